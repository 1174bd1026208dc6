"""What a tutorial is, decided once: a folder ``docs/tutorials/NN-slug/`` (two-digit number, lowercase ASCII
slug) holding ``index.md`` (Chinese) and ``index.en.md`` (English). The build hooks, the tools and the tests
all find tutorials through ``discover``; the hooks add the parsed, validated pages (``registry.py``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

FOLDER_RE = re.compile(r"^(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*$")
# A tutorial page, as a docs-relative path (what MkDocs calls src_uri).
PAGE_RE = re.compile(r"^tutorials/(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*/index(?:\.en)?\.md$")
PAGE_NAMES = {"zh": "index.md", "en": "index.en.md"}


@dataclass(frozen=True)
class TutorialFolder:
    number: int
    path: Path

    @property
    def slug(self) -> str:
        return self.path.name

    def page(self, lang: str) -> Path:
        return self.path / PAGE_NAMES[lang]


def discover(docs: Path) -> dict[int, TutorialFolder]:
    """Tutorial folders under ``docs/tutorials`` by number; a folder without index.md is not one yet."""
    found: dict[int, TutorialFolder] = {}
    root = docs / "tutorials"
    if not root.is_dir():
        return found
    for path in sorted(root.iterdir()):
        match = FOLDER_RE.match(path.name)
        if path.is_dir() and match and (path / PAGE_NAMES["zh"]).exists():
            number = int(match.group(1))
            if number in found:
                raise ValueError(f"docs/tutorials/{found[number].path.name} and docs/tutorials/{path.name} "
                                 f"both claim number {number}: renumber one folder")
            found[number] = TutorialFolder(number, path)
    return found
