"""Reading a page's front matter strictly, and substituting ``{{ facts.KEY }}``, ``{{ pin.PACKAGE }}`` and
``{{ files_url }}``.

``{{ pin.transformers }}`` is the version that the page's own ``requirements.txt`` pins (``{{ pin.09.llamafactory }}``
reads Tutorial 9's): a version the reader installs is written once, in the file the reader downloads.

MkDocs itself ignores broken YAML silently; here a malformed block stops the build with the file, the line
and the fix. Front matter is plain data: YAML anchors and aliases (``&name`` / ``*name``: a few lines of
aliases expand to gigabytes) and blocks over ``FRONT_MATTER_MAX`` bytes are refused before they are loaded.
Facts come from ``extra.facts`` in mkdocs.yml; an unknown key stops the build too."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*\n", re.S)
PLACEHOLDER_RE = re.compile(r"\{\{\s*(facts(?:\.[A-Za-z0-9_]+)+|files_url(?:\.\d\d)?|pin\.[A-Za-z0-9_.-]+?)\s*\}\}")
# A card is about 1.5 KB of YAML; 16 KB leaves room for long reference lists.
FRONT_MATTER_MAX = 16 * 1024
PIN_LINE_RE = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)")


class FrontMatterError(PluginError):
    """A page's front matter is malformed or breaks the tutorial schema."""


def read_front_matter(path: Path, rel: str) -> dict[str, Any]:
    """Parse the YAML front matter of ``path`` (``rel`` names it in messages); ``{}`` when there is none."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    match = FRONT_MATTER_RE.match(text)
    if not match:
        raise FrontMatterError(
            f"{rel}: the front matter starts with '---' but has no closing '---' line. "
            "Close the YAML block with a line holding only '---'."
        )
    block = match.group(1) or ""
    size = len(block.encode("utf-8"))
    if size > FRONT_MATTER_MAX:
        raise FrontMatterError(
            f"{rel}: the front matter is {size} bytes; at most {FRONT_MATTER_MAX}. Keep the card short and put "
            "long text in the page body."
        )
    try:
        _refuse_anchors(block, rel)
        data = yaml.safe_load(block) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FrontMatterError(
            f"{rel}: the front matter is not valid YAML{where}: {problem}. "
            "Fix the YAML block at the top of the file (quote values that contain ':' or '#')."
        ) from None
    if not isinstance(data, dict):
        raise FrontMatterError(f"{rel}: the front matter must be a YAML mapping (key: value lines).")
    return data


def _refuse_anchors(block: str, rel: str) -> None:
    """Scan the YAML's events (linear, nothing is expanded) for an anchor or an alias."""
    for event in yaml.parse(block, Loader=yaml.SafeLoader):
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.AliasEvent) or anchor:
            line = event.start_mark.line + 2 if event.start_mark else "?"
            raise FrontMatterError(
                f"{rel}: line {line}: the front matter uses a YAML anchor or alias "
                f"('&{anchor}' / '*{anchor}'); front matter is plain data: write the value out."
            )


def _flatten(tree: dict[str, Any], prefix: str = "facts") -> list[str]:
    keys: list[str] = []
    for key, value in tree.items():
        keys += _flatten(value, f"{prefix}.{key}") if isinstance(value, dict) else [f"{prefix}.{key}"]
    return keys


def lookup_fact(facts: dict[str, Any], dotted: str, rel: str) -> Any:
    value: Any = {"facts": facts}
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            known = ", ".join(sorted(_flatten(facts)))
            raise PluginError(
                f"{rel}: unknown fact '{{{{ {dotted} }}}}'. Define it under extra.facts in mkdocs.yml "
                f"or use one of: {known}."
            )
        value = value[part]
    if isinstance(value, dict):
        raise PluginError(f"{rel}: '{{{{ {dotted} }}}}' names a group of facts, not one value.")
    return value


def files_url(config, src_uri: str) -> str:
    """Address of the folder that holds ``src_uri`` on the deployed site (for ``wget`` lines)."""
    base = (config.site_url or "/").rstrip("/") + "/"
    folder = PurePosixPath(src_uri).parent.as_posix()
    return base if folder == "." else f"{base}{folder}/"


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(requirements: Path) -> dict[str, str]:
    """Package (normalised name) -> version of every ``name==version`` line of a requirements file."""
    found = {}
    for line in requirements.read_text(encoding="utf-8").splitlines():
        match = PIN_LINE_RE.match(line)
        if match:
            found[_norm(match.group(1))] = match.group(2)
    return found


def lookup_pin(config, src_uri: str, dotted: str, rel: str) -> str:
    """``pin.NAME`` (the page's folder) or ``pin.NN.NAME`` (tutorial NN's folder)."""
    docs = Path(config.docs_dir)
    name = dotted[len("pin.") :]
    folder = docs / PurePosixPath(src_uri).parent
    number = re.match(r"^(\d\d)\.(.+)$", name)
    if number:
        name = number.group(2)
        matches = sorted((docs / "tutorials").glob(f"{number.group(1)}-*/"))
        if not matches:
            raise FrontMatterError(f"{rel}: '{{{{ {dotted} }}}}': there is no tutorial {number.group(1)}.")
        folder = matches[0]
    requirements = folder / "requirements.txt"
    if not requirements.exists():
        raise FrontMatterError(
            f"{rel}: '{{{{ {dotted} }}}}': {requirements.relative_to(docs.parent)} does not "
            "exist; pin the package there, or name another tutorial: {{ pin.NN.package }}."
        )
    found = pins(requirements)
    if _norm(name) not in found:
        raise FrontMatterError(
            f"{rel}: '{{{{ {dotted} }}}}': {requirements.relative_to(docs.parent)} pins no "
            f"'{name}' (it pins: {', '.join(sorted(found)) or 'nothing'})."
        )
    return found[_norm(name)]


def substitute(text: str, config, src_uri: str, rel: str) -> str:
    facts = config.extra.get("facts", {})

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "files_url":
            return files_url(config, src_uri)
        if name.startswith("files_url."):  # {{ files_url.05 }}: the files of tutorial 05
            number = name.split(".")[1]
            matches = sorted((Path(config.docs_dir) / "tutorials").glob(f"{number}-*/"))
            if not matches:
                raise FrontMatterError(f"{rel}: '{{{{ {name} }}}}': there is no tutorial {number}.")
            return files_url(config, f"tutorials/{matches[0].name}/index.md")
        if name.startswith("pin."):
            return lookup_pin(config, src_uri, name, rel)
        return str(lookup_fact(facts, name, rel))

    return PLACEHOLDER_RE.sub(replace, text)


def resolve_values(value: Any, config, src_uri: str, rel: str) -> Any:
    """``substitute`` applied to every string inside a front-matter value."""
    if isinstance(value, str):
        return substitute(value, config, src_uri, rel)
    if isinstance(value, list):
        return [resolve_values(v, config, src_uri, rel) for v in value]
    if isinstance(value, dict):
        return {k: resolve_values(v, config, src_uri, rel) for k, v in value.items()}
    return value
