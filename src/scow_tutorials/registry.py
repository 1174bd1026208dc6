"""What a tutorial is, decided once: a folder ``docs/tutorials/NN-slug/`` (two-digit number, lowercase ASCII
slug) holding ``index.md`` (Chinese) and ``index.en.md`` (English). The build hooks, the tools and the tests
all find tutorials through ``discover``; ``load`` adds the parsed, validated pages for the build."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from scow_tutorials.frontmatter import FrontMatterError, read_front_matter, resolve_values
from scow_tutorials.schema import disagreements, validate

FOLDER_RE = re.compile(r"^(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*$")
# A tutorial page, as a docs-relative path (what MkDocs calls src_uri).
PAGE_RE = re.compile(r"^tutorials/(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*/index(?:\.en)?\.md$")
PAGE_NAMES = {"zh": "index.md", "en": "index.en.md"}


def discover(docs: Path) -> dict[int, Tutorial]:
    """The tutorials under ``docs/tutorials`` by number, their pages not read yet (``load`` reads them); a folder
    without index.md is not one yet."""
    found: dict[int, Tutorial] = {}
    root = docs / "tutorials"
    if not root.is_dir():
        return found
    for path in sorted(root.iterdir()):
        match = FOLDER_RE.match(path.name)
        if path.is_dir() and match and (path / PAGE_NAMES["zh"]).exists():
            number = int(match.group(1))
            if number in found:
                raise ValueError(
                    f"docs/tutorials/{found[number].slug} and docs/tutorials/{path.name} "
                    f"both claim number {number}: renumber one folder"
                )
            found[number] = Tutorial(number, path)
    return found


# ------------------------------------------------------------------------------------- the build's registry
LANGS = ("zh", "en")
DEFAULT_LANG = "zh"


@dataclass(frozen=True)
class Tutorial:
    """One tutorial, the one model the hooks, tools and tests share: its number and folder; once the build has
    read it (``load``), per language the docs-relative page, the front matter with facts substituted and the
    validated card."""

    number: int
    folder: Path
    src: dict = field(default_factory=dict)  # lang -> src_uri ("tutorials/NN-slug/index.md")
    meta: dict = field(default_factory=dict)  # lang -> front matter
    card: dict = field(default_factory=dict)  # lang -> card

    @property
    def slug(self) -> str:
        return self.folder.name

    @property
    def path(self) -> str:
        """The folder's docs-relative URL path, "tutorials/NN-slug/"."""
        return f"tutorials/{self.folder.name}/"

    def page(self, lang: str) -> Path:
        return self.folder / PAGE_NAMES[lang]

    def page_text(self, lang: str) -> str:
        return self.page(lang).read_text(encoding="utf-8")

    def files(self) -> list[str]:
        """Every file the tutorial publishes for download (everything in its folder but its pages)."""
        return [
            p.relative_to(self.folder).as_posix()
            for p in sorted(self.folder.rglob("*"))
            if p.is_file() and p.suffix != ".md" and "__pycache__" not in p.parts
        ]

    @property
    def env(self) -> Path:
        """Its Python environment, ``.envs/NN-slug`` made from requirements.txt by ``scow_tutorials.envs`` on first use
        (for the tests and tools; the build never asks)."""
        from scow_tutorials import envs  # imported here: the build never needs it

        return envs.ensure_env(self.folder)

    @property
    def python(self) -> Path:
        return self.env / "bin" / "python"


def check_translations(docs: Path) -> None:
    """Every page exists in both languages (``page.md`` + ``page.en.md``)."""
    problems = []
    for path in sorted(docs.rglob("*.md")):
        rel = path.relative_to(docs).as_posix()
        if rel.endswith(".en.md"):
            if not path.with_name(path.name[: -len(".en.md")] + ".md").exists():
                problems.append(f"docs/{rel} has no Chinese page: create docs/{rel[:-6]}.md (Chinese is primary)")
        elif not path.with_name(path.stem + ".en.md").exists():
            problems.append(
                f"docs/{rel} has no English translation: create docs/{rel[:-3]}.en.md, "
                "a complete translation with the same front matter fields"
            )
    if problems:
        raise FrontMatterError("Missing translations:\n  " + "\n  ".join(problems))


def load(config) -> dict[int, Tutorial]:
    """Parse and validate every tutorial once: both pages, facts substituted, shared fields compared."""
    docs = Path(config.docs_dir)
    check_translations(docs)
    sections = [s["id"] for s in config.extra.get("sections", [])]
    registry: dict[int, Tutorial] = {}
    try:
        folders = discover(docs)
    except ValueError as exc:
        raise FrontMatterError(str(exc)) from None
    for number, folder in folders.items():
        src, meta, card = {}, {}, {}
        for lang in LANGS:
            src[lang] = f"tutorials/{folder.slug}/{PAGE_NAMES[lang]}"
            rel = f"{docs.name}/{src[lang]}"
            meta[lang] = resolve_values(read_front_matter(folder.page(lang), rel), config, src[lang], rel)
            card[lang] = validate(meta[lang], rel, number, sections, tuple(folders))
        for name, zh, en in disagreements(card["zh"], card["en"]):
            raise FrontMatterError(
                f"{docs.name}/{src['en']}: front matter field 'tutorial.{name}' is {en!r} but the Chinese page "
                f"{src['zh']} says {zh!r}. These fields must be identical in both languages."
            )
        registry[number] = Tutorial(number, folder.folder, src, meta, card)
    return registry


# The registry of the build in progress, and how deep the nested builds are: mkdocs-static-i18n builds the
# other languages inside the default language's on_post_build, so the outermost build's post-build hooks run
# when depth is 1.
STATE: dict = {"registry": None, "depth": 0, "root_site_dir": None}


def current() -> dict[int, Tutorial]:
    if STATE["registry"] is None:
        raise RuntimeError("the tutorial registry is read before the build made it (registry.STATE)")
    return STATE["registry"]
