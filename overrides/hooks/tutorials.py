"""Build hook: the tutorial registry and each tutorial page's card.

* Before each build, every page must exist in both languages, and every tutorial's two pages are parsed
  strictly, validated against the card schema (``scow_tutorials.schema.FIELDS``) and compared
  once (``scow_tutorials.registry.load``); the other hooks read that registry.
* ``{{ facts.KEY }}`` / ``{{ files_url }}`` are substituted in every page (``scow_tutorials.frontmatter``).
* Every shell block a reader types on a tutorial page says where it runs (``scow_tutorials.blocks``); the build
  stops on one without a marker and strips the markers.
* A tutorial page gets its card, in its language, as ``page.meta.tutorial_view``
  (``overrides/partials/tutorial-card.html``), and every page its last-updated date from git.

Other hooks: ``catalog.py`` (home catalog, portal YAML, tutorials.json, redirects), ``cjk_breaks.py``
(line breaks in Chinese text), ``search_split.py`` (one search index per language). Only public MkDocs hook
events are used, so the hooks also run under drop-in MkDocs 1.x forks.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from scow_tutorials import blocks, portal, records, registry
from scow_tutorials.frontmatter import FrontMatterError, read_front_matter, substitute
from scow_tutorials.registry import PAGE_RE, STATE
from scow_tutorials.schema import card_fields
from scow_tutorials.text import TEXT

_git_dates: dict[str, str | None] = {}


def on_startup(command: str, dirty: bool) -> None:
    STATE.update(depth=0, registry=None)


def on_build_error(error: Exception) -> None:
    STATE.update(depth=0)  # mkdocs serve rebuilds after a failed build: start counting afresh


@event_priority(100)
def on_pre_build(config: MkDocsConfig) -> None:
    if not STATE["depth"]:
        STATE["root_site_dir"] = config.site_dir  # the default language is built first, into the root
        STATE["registry"] = registry.load(config)
    STATE["depth"] += 1


@event_priority(-300)
def on_post_build(config: MkDocsConfig) -> None:
    """Runs after every other post-build hook of the same build (they read ``STATE["depth"] == 1``)."""
    STATE["depth"] -= 1


def page_lang(src_uri: str) -> str:
    return "en" if src_uri.endswith(".en.md") else registry.DEFAULT_LANG


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    src_uri = page.file.src_uri
    rel = f"{Path(config.docs_dir).name}/{src_uri}"
    source_path = Path(str(page.file.abs_src_path))  # every page of this site is a file under docs/
    lang = page_lang(src_uri)
    match = PAGE_RE.match(src_uri)
    if match:
        tutorial = registry.current().get(int(match.group(1)))
        if tutorial is None or tutorial.src[lang] != src_uri:
            raise FrontMatterError(f"{rel}: not a registered tutorial page (folder docs/tutorials/NN-slug/).")
        page.meta.update(tutorial.meta[lang])
        page.meta["tutorial_view"] = card_view(tutorial, lang, page, files)
        found = blocks.problems(source_path.read_text(encoding="utf-8"), blocks.REQUIRED)
        if found:
            raise FrontMatterError(f"{rel}: " + f"\n{rel}: ".join(found))
        markdown = blocks.strip(markdown)
    elif read_front_matter(source_path, rel).get("tutorial"):
        raise FrontMatterError(
            f"{rel}: has a 'tutorial' card but is not a tutorial page. Tutorial pages live at "
            "docs/tutorials/NN-slug/index.md (and index.en.md)."
        )
    date = git_date(str(source_path))
    if date:
        page.meta["revision_date"] = date
    markdown = substitute(markdown, config, src_uri, rel)
    source = source_path.read_text(encoding="utf-8")
    return portal.render(markdown, lang, rel, source)  # portal steps and forms, checked against the labels


def git_date(path: str) -> str | None:
    if path not in _git_dates:
        try:
            out = subprocess.run(
                ["git", "log", "-1", "--format=%cs", "--", path],
                capture_output=True,
                text=True,
                timeout=20,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        _git_dates[path] = out or None
    return _git_dates[path]


def verified_lines(verified: dict[str, Any], lang: str, page: Page, files: Files, folder: str) -> list[dict]:
    """The card's verification line: what CI executes, what ran under Slurm, whether a GPU run exists."""
    t = TEXT[lang]["verified"]
    note = f"{t['sep_open']}{verified['note']}{t['sep_close']}" if verified.get("note") else ""
    lines = [
        {"text": t["ci"].format(files=t["join"].join(verified["ci"])) + note}
        if verified["ci"]
        else {"text": t["no_ci"] + note}
    ]
    if verified["slurm"]:
        lines.append({"text": t["slurm"].format(files=t["join"].join(verified["slurm"]))})
    gpu = verified["gpu"]
    if gpu is None:
        lines.append({"text": t["no_gpu"]})
    else:
        record = files.get_file_from_path(f"{folder}/{gpu['record']}")
        if record is None:
            raise FrontMatterError(
                f"docs/{folder}: verified.gpu.record '{gpu['record']}' is not a file of the tutorial"
            )
        try:
            run = records.read_record(Path(str(record.abs_src_path)))
        except ValueError as exc:
            raise FrontMatterError(f"docs/{folder}: verified.gpu.record: {exc}") from None
        failed = [t for t in run["tests"] if t.get("outcome") not in ("passed", "skipped")]
        key = (
            "gpu_stale"
            if records.stale_files(Path(str(record.abs_src_path)).parent, run)
            else "gpu_failed"
            if failed
            else "gpu"
        )
        lines.append(
            {
                "text": t[key].format(
                    date=gpu["date"], hardware=gpu["hardware"], failed=len(failed), total=len(run["tests"])
                ),
                "link": record.url_relative_to(page.file),
                "link_text": t["record"],
            }
        )
    return lines


def card_view(tutorial, lang: str, page: Page, files: Files) -> dict[str, Any]:
    """The card in the page's language: one row per field that ``schema.FIELDS`` puts on the card, each
    with its label, the kind of value the template renders and the value as it reads in this language."""
    t, card = TEXT[lang], tutorial.card[lang]
    tutorials = registry.current()
    rows = []
    for field in card_fields():
        value = card[field.name]
        if field.card == "links":  # other tutorials, linked in this language
            shown = []
            for number in value:
                target = tutorials.get(number)
                file = files.get_file_from_path(target.src[lang]) if target else None
                shown.append(
                    {"label": t["tutorial"].format(n=number), "url": file.url_relative_to(page.file) if file else None}
                )
        elif field.card == "verified":
            shown = verified_lines(value, lang, page, files, f"tutorials/{tutorial.slug}")
        elif field.card in ("references", "code"):
            shown = value
        else:
            shown = field.shown(value, lang)
        rows.append(
            {
                "name": field.name,
                "label": field.label_in(lang),
                "kind": field.card,
                "wide": field.wide,
                # A badge's colour follows its own field's value (class tutorial-card__badge--NAME-VALUE).
                "badge": f"{field.name}-{value}" if field.card == "badge" else "",
                "value": shown,
            }
        )
    return {
        "number": card["number"],
        "card_label": t["card_label"],
        "none": t["none"],
        "rows": rows,
        "verified_text": t["verified"],
    }
