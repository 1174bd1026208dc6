"""Search finds Chinese words (jieba segmentation at build time) and English words, in both languages."""

from __future__ import annotations

import json
import re

import pytest

from conftest import LANGS, registry
from tutorial_fixtures import module_name, search_probes


def load_index(built, lang="zh"):
    """Each language has its own index: search/ for Chinese, en/search/ for English."""
    folder = built.site / "search" if lang == "zh" else built.site / lang / "search"
    return json.loads((folder / "search_index.json").read_text(encoding="utf-8"))


def tokens(text: str, separator: str) -> set[str]:
    return {t.lower() for t in re.split(separator, re.sub(r"<[^>]+>", " ", text)) if t}


def material_segment(query: str, vocabulary: set[str]) -> list[str]:
    """Material's own segmentation of a run of Chinese characters in a typed query (its search worker,
    integrations/search/query/segment): longest words of the index's vocabulary, with minimum overlap."""
    n = len(query)
    cuts = [0] * (n + 1)
    for i in range(n):
        for j in range(i + 1, n):  # as Material: a word ending at the last character is not looked up
            if query[i:j] in vocabulary:
                cuts[i] = j - i
    segments: list[str] = []
    stack = [0]
    while stack:
        p = stack.pop()
        for q in range(1, cuts[p]):
            if p + q < n and cuts[p + q] > cuts[p] - q:
                segments.append(query[p:p + q])
                stack.append(p + q)
        q = p + cuts[p]
        if q < n and cuts[q] and q < n - 1:
            stack.append(q)
        segments.append(query[p:q])
    return [query] if "" in segments else list(dict.fromkeys(segments))


def query_terms(query: str, index: dict) -> set[str]:
    """The terms Material's worker searches for: Chinese runs segmented against the index, then split at the
    separator; each term is a prefix (Material appends a wildcard)."""
    sep = index["config"]["separator"]
    vocabulary = set()
    for doc in index["docs"]:
        vocabulary |= tokens(doc["title"] + " " + doc["text"], sep)
    query = re.sub(r"[\u3400-\u9fff]+", lambda m: " ".join(material_segment(m.group(0), vocabulary)), query)
    return tokens(query, sep)


def search(index: dict, query: str) -> list[str]:
    """Locations whose title or text holds every term of the query, as lunr would match them."""
    sep = index["config"]["separator"]
    terms = query_terms(query, index)
    hits = []
    for doc in index["docs"]:
        words = tokens(doc["title"] + " " + doc["text"], sep)
        if all(any(w.startswith(t) for w in words) for t in terms):
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


PROBES = search_probes()


def test_every_tutorial_has_search_probes():
    for tutorial in registry().values():
        for lang in LANGS:
            assert any(l == lang and p == tutorial.path for l, _, p in PROBES), (
                f"tests/{module_name(tutorial.folder)}.py lists no {lang} query in SEARCH_PROBES")


@pytest.mark.parametrize("lang, query, page", PROBES, ids=[f"{l}-{q}" for l, q, _ in PROBES])
def test_queries_find_the_tutorial(built, lang, query, page):
    """Each tutorial's own probes (SEARCH_PROBES in its test module) find it in its language's index."""
    hits = search(load_index(built, lang), query)
    assert any(h.startswith(page) for h in hits), f"searching {query!r} ({lang}) does not find {page}: {hits[:8]}"


def test_search_helper_can_miss(built):
    assert search(load_index(built), "龘靐齉") == []


def test_full_width_punctuation_separates_words(built):
    sep = load_index(built)["config"]["separator"]
    assert tokens("Board，训练。（数据）", sep) == {"board", "训练", "数据"}


def test_chinese_query_is_segmented_like_material():
    vocabulary = {"下载", "模型", "训练"}
    assert material_segment("下载模型训练", vocabulary) == ["下载", "模型"]
    assert material_segment("量子", vocabulary) == ["量子"]
