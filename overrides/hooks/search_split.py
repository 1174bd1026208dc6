"""Build hook: one search index per language, so Chinese pages search Chinese pages and English pages
English ones. mkdocs-static-i18n stacks both languages into search/search_index.json; after the last language
is built, the English half moves to en/search/ with its locations made relative to /en/, where
overrides/main.html points English pages.

Code blocks stay out of both indexes (``lean``): script listings (the snippet-included files), recorded outputs
and commands match almost any query on their words ("no", "node", "name"), bury the troubleshooting entries that
quote an error, and made most of the index's weight. The headings and prose around a block still find it.
Tags go too, also from titles: the separator does not split at "<", so a heading "`No module named 'x'`" was
indexed as "<code>no", and "No module named" did not match the entry that quotes it.
Troubleshooting entries (``#err-…``, issue 23) carry ``boost: 2`` (Material passes a document's boost to lunr): a
pasted error lands on the entry that quotes it rather than on a page whose long title shares two of its words
("No module named" and "the training module (several nodes)"); a topic query ("training module") still finds the
page. Pages whose front matter says ``search: {exclude: true}`` (the Error index) are left out by Material."""

from __future__ import annotations

import json
import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority

from scow_tutorials.registry import DEFAULT_LANG, LANGS, STATE


@event_priority(-200)
def on_post_build(config: MkDocsConfig) -> None:
    if STATE["depth"] == 1:
        split_search_index(Path(STATE["root_site_dir"]))


PRE_RE = re.compile(r"<pre\b[^>]*>.*?</pre>", re.S)
BLOCK_TAG_RE = re.compile(r"</?(?:p|ul|ol|li|code)>")
# The home page's catalog and graph repeat the tutorials' titles and descriptions: search finds the tutorials.
LEFT_OUT = re.compile(r"^(?:[a-z]{2}/)?#(?:catalog|path)(?:-|$)")
ENTRY_BOOST = 2
SPACES_RE = re.compile(r"[ \t\n]{2,}")
# jieba's word marks (U+200B) next to a character that separates words anyway (mkdocs.yml, search.separator).
_SEPARATING = r"\s，。、；：？！（）“”‘’《》【】"
REDUNDANT_ZWSP_RE = re.compile(rf"\u200b(?=[{_SEPARATING}])|(?<=[{_SEPARATING}])\u200b")


def lean(text: str) -> str:
    """An index entry's text without its code blocks (the ``<pre>`` elements Material keeps in the index), the
    paragraph, list and code tags, and the word marks that a separator makes redundant: the same words,
    lighter (the index stays under 100 KB gzip per language)."""
    text = BLOCK_TAG_RE.sub(" ", PRE_RE.sub(" ", text))
    return REDUNDANT_ZWSP_RE.sub("", SPACES_RE.sub(" ", text)).strip()


def split_search_index(root: Path) -> None:
    index_path = root / "search" / "search_index.json"
    if not index_path.exists():
        return
    index = json.loads(index_path.read_text(encoding="utf-8"))
    parts: dict[str, list] = {lang: [] for lang in LANGS}
    for doc in index["docs"]:
        if LEFT_OUT.match(doc["location"]):
            continue
        doc = dict(doc, text=lean(doc["text"]), title=lean(doc["title"]))
        if "#err-" in doc["location"]:
            doc["boost"] = ENTRY_BOOST
        lang = next((o for o in LANGS if o != DEFAULT_LANG and doc["location"].startswith(f"{o}/")), DEFAULT_LANG)
        if lang != DEFAULT_LANG:
            doc = dict(doc, location=doc["location"][len(lang) + 1 :])
        parts[lang].append(doc)
    for lang, docs in parts.items():
        folder = root / "search" if lang == DEFAULT_LANG else root / lang / "search"
        folder.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(dict(index, docs=docs), ensure_ascii=False, separators=(",", ":"))
        (folder / "search_index.json").write_text(payload, encoding="utf-8")
        if (root / "search" / "search_index.js").exists():  # offline build: the index as a script
            (folder / "search_index.js").write_text(f"var __index = {payload}", encoding="utf-8")
