"""Search finds Chinese words (jieba segmentation at build time) and English words, in both languages."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT


def load_index(built):
    data = json.loads((built.site / "search" / "search_index.json").read_text(encoding="utf-8"))
    return data


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
    assert "zh" in index["config"]["lang"] and "en" in index["config"]["lang"]


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
    [("house prices", "en/tutorials/01-house-prices/"), ("conda environment", "en/tutorials/00-python-env/")],
)
def test_english_queries_find_the_english_tutorial(built, query, page):
    hits = search(load_index(built), query)
    assert any(h.startswith(page) for h in hits), f"searching {query!r} does not find {page}: {hits[:8]}"


def test_search_helper_can_miss(built):
    assert search(load_index(built), "量子色动力学") == []
