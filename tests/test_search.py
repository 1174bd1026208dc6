"""Search finds Chinese words (jieba segmentation at build time) and English words, in both languages."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT


def load_index(built, lang="zh"):
    """Each language has its own index: search/ for Chinese, en/search/ for English."""
    folder = built.site / "search" if lang == "zh" else built.site / lang / "search"
    return json.loads((folder / "search_index.json").read_text(encoding="utf-8"))


def tokens(text: str, separator: str) -> set[str]:
    return {t.lower() for t in re.split(separator, re.sub(r"<[^>]+>", " ", text)) if t}


def search(index: dict, query: str) -> list[str]:
    """Locations whose title or text holds every term of the query, as lunr would match them."""
    sep = index["config"]["separator"]
    terms = tokens(query, sep)
    hits = []
    for doc in index["docs"]:
        words = tokens(doc["title"] + " " + doc["text"], sep)
        if terms <= words:
            hits.append(doc["location"])
    return hits


def test_search_config_keeps_zero_width_space(built):
    index = load_index(built)
    assert "\\u200b" in index["config"]["separator"] or "\u200b" in index["config"]["separator"]
    # Material queries with a trailing wildcard, which bypasses the stemmer: a stemmed index would miss words.
    assert index["config"]["pipeline"] == [], "a search pipeline (stemmer) breaks whole-word queries"


def test_each_language_has_its_own_index(built):
    zh, en = load_index(built, "zh"), load_index(built, "en")
    assert zh["docs"] and en["docs"]
    assert not any(d["location"].startswith("en/") for d in zh["docs"]), "English pages in the Chinese index"
    assert not any(re.search(r"[\u4e00-\u9fff]{4,}", d["title"]) for d in en["docs"]), "Chinese titles in the English index"
    for d in en["docs"]:
        page = built.site / "en" / d["location"].split("#")[0] / "index.html"
        assert page.exists(), f"English index entry {d['location']} has no page under en/"
    config = re.search(r'<script id="__config"[^>]*>(.*?)</script>', built.page("en", "").read_text("utf-8"), re.S)
    assert json.loads(config.group(1))["base"].endswith("en/"), "English pages must load the English index"


def test_chinese_text_is_segmented(built):
    index = load_index(built)
    text = " ".join(d["text"] for d in index["docs"] if not d["location"].startswith("en/"))
    assert "\u200b" in text, "Chinese text in the search index is not segmented (is jieba installed?)"


@pytest.mark.parametrize(
    "query, page",
    [
        ("房价", "tutorials/01-house-prices/"),
        ("回归", "tutorials/01-house-prices/"),
        ("学习曲线", "tutorials/01-house-prices/"),
        ("Miniconda", "tutorials/00-python-env/"),
        ("校验", "tutorials/00-python-env/"),
        ("超算平台", "tutorials/00-python-env/"),
    ],
)
def test_chinese_queries_find_the_tutorial(built, query, page):
    if not (ROOT / "docs" / page / "index.md").exists():
        pytest.skip(f"{page} is not written yet")
    hits = search(load_index(built), query)
    assert any(h.startswith(page) for h in hits), f"searching {query!r} does not find {page}: {hits[:8]}"


@pytest.mark.parametrize(
    "query, page",
    [("house prices", "tutorials/01-house-prices/"), ("conda environment", "tutorials/00-python-env/"),
     ("learning curve", "tutorials/01-house-prices/")],
)
def test_english_queries_find_the_english_tutorial(built, query, page):
    hits = search(load_index(built, "en"), query)
    assert any(h.startswith(page) for h in hits), f"searching {query!r} does not find {page}: {hits[:8]}"


def test_search_helper_can_miss(built):
    assert search(load_index(built), "量子色动力学") == []
