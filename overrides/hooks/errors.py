"""Build hook: the Error index (报错索引), made from the tutorial pages themselves.

Each tutorial page ends its main path with ``## 常见问题 {#troubleshooting}`` (``## Troubleshooting
{#troubleshooting}``); each entry there is a level-3 heading whose text is the error message or the symptom the
reader sees, with a stable id starting ``err-``, the same in both languages::

    ### `CUDA out of memory` {#err-oom}

The page holding ``<!-- error-index -->`` (docs/errors.md, docs/errors.en.md) gets, in its language, every such
entry of every tutorial, grouped by tutorial, each linked to its heading. The index is read from the pages'
sources, so it never disagrees with them. ``entries()`` is what the tests read too.

On the tutorial pages each entry is folded to its heading (``fold_entries``), after the search index has
been made, so the troubleshooting section is a short list of error texts and every entry stays a search
result of its own.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from scow_tutorials import registry

MARKER = "<!-- error-index -->"
SECTION_RE = re.compile(r"^##\s+(?P<text>.+?)\s*\{(?P<attrs>[^}]*)\}\s*$")
HEADING_RE = re.compile(r"^(?P<level>#{1,6})\s+(?P<text>.+?)\s*(?:\{(?P<attrs>[^}]*)\})?\s*$")
ID_RE = re.compile(r"(?:^|\s)#([A-Za-z0-9_-]+)")
FENCE_RE = re.compile(r"^\s*(`{3,}|~{3,})")
LINK_RE = re.compile(r"\[([^\]]+)\]\([^)]*\)")
WORDS = {
    "zh": {
        "count": "共 {n} 条，来自 {t} 篇教程。",
        "none": "还没有教程写出带 `err-` 标识的常见问题条目。",
        "empty": "本篇的常见问题还没有中文条目。",
    },
    "en": {
        "count": "{n} entries from {t} tutorials.",
        "none": "No tutorial has troubleshooting entries with `err-` ids yet.",
        "empty": "This tutorial's troubleshooting entries are not translated yet.",
    },
}


class Entry(NamedTuple):
    id: str  # err-...
    heading: str  # the heading's Markdown, without its attribute list
    line: int  # 1-based line in the page's source


def entries(text: str) -> list[Entry]:
    """The troubleshooting entries of a page's Markdown source: level-3 headings with an ``err-`` id under the
    level-2 heading whose id is ``troubleshooting``, outside fenced code."""
    found: list[Entry] = []
    fence = None
    inside = False
    for number, line in enumerate(text.splitlines(), 1):
        m = FENCE_RE.match(line)
        if m:
            mark = m.group(1)
            if fence is None:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence) and not line.strip()[len(mark) :].strip():
                fence = None
            continue
        if fence is not None:
            continue
        h = HEADING_RE.match(line)
        if not h:
            continue
        level = len(h.group("level"))
        ids = ID_RE.findall(h.group("attrs") or "")
        if level <= 2:
            inside = level == 2 and "troubleshooting" in ids
        elif level == 3 and inside:
            err = [i for i in ids if i.startswith("err-")]
            if err:
                found.append(Entry(err[0], h.group("text").strip(), number))
    return found


def plain(heading: str) -> str:
    """A heading's Markdown as link text: its own links reduced to their text."""
    return LINK_RE.sub(r"\1", heading)


def index_markdown(lang: str) -> str:
    """Every tutorial with entries (in either language, so both pages have the same sections) and its entries
    in this language."""
    words = WORDS[lang]
    out, total, tutorials = [], 0, 0
    for tutorial in registry.current().values():
        found = entries(tutorial.page_text(lang))
        if not found and not any(entries(tutorial.page_text(other)) for other in registry.LANGS if other != lang):
            continue
        tutorials += 1
        total += len(found)
        page = tutorial.src[lang].split("/")[-1]
        link = f"tutorials/{tutorial.slug}/{page}"
        title = tutorial.meta[lang]["title"]
        out.append(f"## [{title}]({link}) {{#t{tutorial.number:02d}}}\n")
        out += [f"- [{plain(e.heading)}]({link}#{e.id})" for e in found] or [f"- {words['empty']}"]
        out.append("")
    head = words["count"].format(n=total, t=tutorials) if total else words["none"]
    return head + '\n\n<div class="error-index" markdown>\n\n' + "\n".join(out) + "\n</div>\n"


@event_priority(50)  # before tutorials.py substitutes {{ facts.KEY }} (headings may use facts)
def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if MARKER not in markdown:
        return markdown
    lang = "en" if page.file.src_uri.endswith(".en.md") else registry.DEFAULT_LANG
    return markdown.replace(MARKER, index_markdown(lang))


SECTION_START_RE = re.compile(r'<h2 id="troubleshooting"[^>]*>.*?</h2>', re.S)
NEXT_H2_RE = re.compile(r"<h2[\s>]")
ENTRY_RE = re.compile(r'(<h3 id="err-[^"]+"[^>]*>.*?</h3>)', re.S)
NEXT_H3_RE = re.compile(r"<h3[\s>]")


def fold_entries(html: str) -> str:
    """The troubleshooting entries of a rendered page, each folded to its heading: ``<details class="err-entry">``
    whose ``<summary>`` is the entry's ``<h3 id="err-…">``. The main path stays short (issue 23), a reader scans
    the list of error texts and opens the one they met; a link or search result to ``#err-…`` opens its entry
    (Material opens the ``<details>`` holding a link target, and Chromium does so on its own), and printing opens
    every one. Text between the section heading and the first entry, and level-3 headings without an ``err-`` id,
    are left as they are."""
    start = SECTION_START_RE.search(html)
    if not start:
        return html
    end_match = NEXT_H2_RE.search(html, start.end())
    end = end_match.start() if end_match else len(html)
    section = html[start.end() : end]
    parts = ENTRY_RE.split(section)
    out = [parts[0]]
    for heading, rest in zip(parts[1::2], parts[2::2], strict=True):
        other = NEXT_H3_RE.search(rest)  # a level-3 heading without an err- id ends the entry's body
        body, after = (rest[: other.start()], rest[other.start() :]) if other else (rest, "")
        out.append(f'<details class="err-entry">\n<summary>{heading}</summary>\n{body.strip()}\n</details>\n{after}')
    return html[: start.end()] + "".join(out) + html[end:]


@event_priority(-100)  # after Material's search plugin has indexed the page: each entry stays a section of its own
def on_page_context(context: dict, page: Page, config: MkDocsConfig, nav: object) -> dict:
    if page.content and 'id="troubleshooting"' in page.content:
        page.content = fold_entries(page.content)
    return context
