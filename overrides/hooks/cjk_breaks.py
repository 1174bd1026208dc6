"""Build hook: a line break inside Chinese text must not become a visible space.

Markdown keeps the source's line breaks in the HTML, and browsers other than Firefox render a break between
two Chinese characters as a space. This joins such lines in the rendered HTML (outside <pre> blocks): a break,
with the indentation of the next line, whose neighbours are both Chinese characters or full-width / Chinese
punctuation (including “ ” ‘ ’ … —)."""

from __future__ import annotations

import re

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

CJK = "\u2014\u2018\u2019\u201c\u201d\u2026\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
CJK_BREAK = re.compile(rf"(?<=[{CJK}])[ \t]*\n[ \t]*(?=[{CJK}])")
PRE_BLOCK = re.compile(r"(<pre[\s\S]*?</pre>)")


def join_cjk_lines(html_text: str) -> str:
    parts = PRE_BLOCK.split(html_text)
    return "".join(part if part.startswith("<pre") else CJK_BREAK.sub("", part) for part in parts)


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    return join_cjk_lines(html)
