"""The tutorial card, declared once.

``FIELDS`` lists every field of the ``tutorial:`` mapping in a tutorial page's front matter: its check, whether
it must be identical in the Chinese and English pages, its label in both languages, how the card shows it
(``card``: the kind of value the card template renders, None for a field the card does not show), whether the
home catalog has a column for it (``catalog``), whether the card's first row shows it as a chip (``chip``; the
other card fields are in the card's collapsed block), how its value reads in a language (``shown``), and the one-line
description the README's table shows (``tests/test_tutorial_model.py`` checks that table against ``FIELDS``).
The card template, the catalog, ``tutorials.json`` and the tests all read ``FIELDS``: adding a field is one
entry here."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scow_tutorials.frontmatter import FrontMatterError
from scow_tutorials.text import TEXT, resources_text

PLATFORMS = ("hpc", "ai", "both")
MAX_NUMBER = 99  # two digits in the folder name; which numbers exist is the folders' business
_MISSING = object()


def fail(rel: str, field: str, got: Any, expected: str) -> None:
    shown = "missing" if got is _MISSING else f"got {got!r}"
    raise FrontMatterError(
        f"{rel}: front matter field '{field}': {shown}; expected {expected}. "
        "Fix the YAML block at the top of the file (fields: see README.md, 'Add a tutorial')."
    )


def text(rel, field, value, *, optional=False, min_len=1, max_len=400):
    if value is None and optional:
        return
    if not isinstance(value, str) or not (min_len <= len(value.strip()) <= max_len):
        fail(rel, field, value, f"{'text or null' if optional else 'text'} of {min_len} to {max_len} characters")


def integer(rel, field, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        fail(rel, field, value, f"an integer from {low} to {high}")


@dataclass(frozen=True)
class Context:
    rel: str  # the file, as messages name it
    folder_number: int  # NN of docs/tutorials/NN-slug/
    sections: tuple[str, ...]
    numbers: tuple[int, ...] = ()  # the tutorials that exist (prerequisites must name one of them)


def _number(v, c: Context):
    integer(c.rel, "tutorial.number", v, 0, MAX_NUMBER)
    if v != c.folder_number:
        fail(c.rel, "tutorial.number", v, f"{c.folder_number}, the number in the folder name")


def _section(v, c):
    if v not in c.sections:
        fail(c.rel, "tutorial.section", v, "one of " + ", ".join(c.sections) + " (extra.sections in mkdocs.yml)")


def _platform(v, c):
    if v not in PLATFORMS:
        fail(c.rel, "tutorial.platform", v, "one of " + ", ".join(PLATFORMS))


def _optional_text(name):
    return lambda v, c: text(c.rel, f"tutorial.{name}", v, optional=True, max_len=200)


def _resources(v, c):
    if not isinstance(v, dict) or set(v) != {"nodes", "gpus"}:
        fail(c.rel, "tutorial.resources", v, "a mapping {nodes: N, gpus: M} (gpus per node, 0 = none)")
    integer(c.rel, "tutorial.resources.nodes", v["nodes"], 1, 64)
    integer(c.rel, "tutorial.resources.gpus", v["gpus"], 0, 16)


def _time(v, c):
    integer(c.rel, "tutorial.time", v, 1, 24 * 60)


def _prerequisites(v, c):
    if not isinstance(v, list):
        fail(c.rel, "tutorial.prerequisites", v, "a list of tutorial numbers, [] if none")
    for i, number in enumerate(v):
        integer(c.rel, f"tutorial.prerequisites[{i}]", number, 0, MAX_NUMBER)
        if number == c.folder_number:
            fail(c.rel, f"tutorial.prerequisites[{i}]", number, "another tutorial's number, not this one's")
        if c.numbers and number not in c.numbers:
            fail(
                c.rel,
                f"tutorial.prerequisites[{i}]",
                number,
                "the number of a tutorial that exists (" + ", ".join(map(str, c.numbers)) + ")",
            )


def _goal(v, c):
    text(c.rel, "tutorial.goal", v, max_len=300)


def _references(v, c):
    if not isinstance(v, list) or not v:
        fail(c.rel, "tutorial.references", v, "a non-empty list of {title, url}")
    for i, ref in enumerate(v):
        if not isinstance(ref, dict) or set(ref) != {"title", "url"}:
            fail(c.rel, f"tutorial.references[{i}]", ref, "a mapping {title: ..., url: https://...}")
        text(c.rel, f"tutorial.references[{i}].title", ref["title"], max_len=120)
        if not isinstance(ref["url"], str) or not re.match(r"^https?://[^\s/]+\.[^\s]+$", ref["url"]):
            fail(c.rel, f"tutorial.references[{i}].url", ref["url"], "an absolute http(s) URL")


FILE_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")


def _verified(v, c):
    keys = {"ci", "slurm", "gpu", "note"}
    if not isinstance(v, dict) or not {"ci", "slurm", "gpu"} <= set(v) <= keys:
        fail(c.rel, "tutorial.verified", v, "a mapping {ci: [files], slurm: [files], gpu: null, note: text}")
    for key in ("ci", "slurm"):
        if not isinstance(v[key], list) or not all(isinstance(f, str) and FILE_NAME.match(f) for f in v[key]):
            fail(c.rel, f"tutorial.verified.{key}", v[key], "a list of the tutorial's published file names, [] if none")
    gpu = v["gpu"]
    if gpu is not None:
        if not isinstance(gpu, dict) or set(gpu) != {"date", "hardware", "record"}:
            fail(
                c.rel,
                "tutorial.verified.gpu",
                gpu,
                "null, or {date: YYYY-MM-DD, hardware: text, record: a published file holding the run's output}",
            )
        if not re.match(r"^\d{4}-\d\d-\d\d$", str(gpu["date"])):
            fail(c.rel, "tutorial.verified.gpu.date", gpu["date"], "a date YYYY-MM-DD")
        text(c.rel, "tutorial.verified.gpu.hardware", gpu["hardware"], max_len=120)
    text(c.rel, "tutorial.verified.note", v.get("note"), optional=True, max_len=200)


def _as_text(value, lang):
    return value if value else TEXT[lang]["none"]


@dataclass(frozen=True)
class Field:
    name: str
    shared: bool  # must be identical in both languages
    check: Callable[[Any, Context], None]
    doc: str  # README table
    label: dict[str, str] | None = None  # {"zh": ..., "en": ...}; None: not shown on the card
    card: str | None = None  # how the card template shows it: text, code, badge, links, references, verified
    wide: bool = False  # a row of its own on the card
    catalog: bool = False  # a column of the home catalog
    chip: bool = False  # on the card's first row (a chip); the other card fields are in its collapsed block
    shown: Callable[[Any, str], Any] = _as_text  # the value as it reads in a language (card, catalog)

    def label_in(self, lang: str) -> str:
        """The label in a language; every field the card or the catalog shows has one."""
        if self.label is None:
            raise ValueError(f"card field {self.name!r} has no label: give it one to show it")
        return self.label[lang]


FIELDS: tuple[Field, ...] = (
    Field("number", True, _number, "0..99, equal to NN in the folder name"),
    Field("section", True, _section, "an id of `extra.sections` in mkdocs.yml (python, pytorch, cv, llm)"),
    Field(
        "platform",
        True,
        _platform,
        "hpc, ai or both",
        {"zh": "平台", "en": "Platform"},
        "badge",
        catalog=True,
        chip=True,
        shown=lambda v, lang: TEXT[lang]["platform"][v],
    ),
    Field(
        "resources",
        True,
        _resources,
        "`{nodes: N, gpus: M}`: GPUs per node, 0 = none; agrees with the steps",
        {"zh": "资源", "en": "Resources"},
        "text",
        catalog=True,
        chip=True,
        shown=resources_text,
    ),
    Field(
        "time",
        True,
        _time,
        "minutes",
        {"zh": "预计用时", "en": "Estimated time"},
        "text",
        catalog=True,
        chip=True,
        shown=lambda v, lang: TEXT[lang]["minutes"].format(m=v),
    ),
    Field(
        "image",
        True,
        _optional_text("image"),
        "container image or null; may use `{{ facts.images.KEY }}`",
        {"zh": "镜像", "en": "Image"},
        "code",
    ),
    Field("model", False, _optional_text("model"), "model, text or null", {"zh": "模型", "en": "Model"}, "text"),
    Field(
        "dataset", False, _optional_text("dataset"), "dataset, text or null", {"zh": "数据集", "en": "Dataset"}, "text"
    ),
    Field(
        "prerequisites",
        True,
        _prerequisites,
        "numbers of tutorials that exist, `[]` if none",
        {"zh": "前置教程", "en": "Prerequisites"},
        "links",
        chip=True,
    ),
    Field("goal", False, _goal, "one sentence", {"zh": "目标", "en": "Goal"}, "text", wide=True),
    Field(
        "references",
        False,
        _references,
        "non-empty list of `{title, url}`",
        {"zh": "参考资料", "en": "References"},
        "references",
        wide=True,
    ),
    Field(
        "verified",
        False,
        _verified,
        "what was executed: `ci` (files the test module runs), `slurm` (batch scripts run under Slurm in CI), "
        "`gpu` (null, or `{date, hardware, record}` of a real run, the record written by `make verify-gpu`), "
        "`note` (one line, per language)",
        {"zh": "验证情况", "en": "Verified"},
        "verified",
        wide=True,
    ),
)
# Parts of a field that must agree across languages although the field as a whole need not.
SHARED_PARTS = {"verified": ("ci", "slurm", "gpu")}


def validate(
    meta: dict[str, Any], rel: str, folder_number: int, sections: list[str], numbers: tuple[int, ...] = ()
) -> dict[str, Any]:
    """Check a tutorial page's front matter (title, description, card); return its ``tutorial`` card."""
    text(rel, "title", meta.get("title", _MISSING), max_len=80)
    text(rel, "description", meta.get("description", _MISSING), min_len=20, max_len=200)
    card = meta.get("tutorial", _MISSING)
    if not isinstance(card, dict):
        fail(rel, "tutorial", card, "a mapping with the tutorial card (number, section, platform, ...)")
    names = [f.name for f in FIELDS]
    for key in card:
        if key not in names:
            fail(rel, f"tutorial.{key}", card[key], f"no such field; allowed fields: {', '.join(sorted(names))}")
    context = Context(rel, folder_number, tuple(sections), tuple(numbers))
    for field in FIELDS:
        if field.name not in card:
            fail(rel, f"tutorial.{field.name}", _MISSING, "a value (use null for image/model/dataset if none)")
        field.check(card[field.name], context)
    return card


def disagreements(zh: dict[str, Any], en: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """The shared fields (and shared parts of fields) that differ between the two languages' cards."""
    found = [(f.name, zh.get(f.name), en.get(f.name)) for f in FIELDS if f.shared and zh.get(f.name) != en.get(f.name)]
    for name, parts in SHARED_PARTS.items():
        for part in parts:
            a, b = (zh.get(name) or {}).get(part), (en.get(name) or {}).get(part)
            if a != b:
                found.append((f"{name}.{part}", a, b))
    return found


def readme_table() -> str:
    """The README's table of card fields."""
    rows = ["| field | same in both languages | value |", "|---|---|---|"]
    for field in FIELDS:
        shared = "yes" if field.shared else ("partly" if field.name in SHARED_PARTS else "no")
        rows.append(f"| `{field.name}` | {shared} | {field.doc} |")
    return "\n".join(rows)


def card_fields() -> list[Field]:
    """The fields the card shows, in the card's order."""
    return [f for f in FIELDS if f.card]


def chip_fields() -> list[Field]:
    """The card fields on the card's first row (chips); the others are in the card's collapsed block."""
    return [f for f in FIELDS if f.card and f.chip]


def catalog_fields() -> list[Field]:
    return [f for f in FIELDS if f.catalog]
