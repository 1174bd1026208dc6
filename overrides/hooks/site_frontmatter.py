"""Reading a page's front matter strictly, and substituting ``{{ facts.KEY }}`` / ``{{ files_url }}``.

MkDocs itself ignores broken YAML silently; here a malformed block stops the build with the file, the line
and the fix. Facts come from ``extra.facts`` in mkdocs.yml; an unknown key stops the build too."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*\n", re.S)
PLACEHOLDER_RE = re.compile(r"\{\{\s*(facts(?:\.[A-Za-z0-9_]+)+|files_url)\s*\}\}")


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
    try:
        data = yaml.safe_load(match.group(1) or "") or {}
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


def substitute(text: str, config, src_uri: str, rel: str) -> str:
    facts = config.extra.get("facts", {})

    def replace(match: re.Match) -> str:
        name = match.group(1)
        return files_url(config, src_uri) if name == "files_url" else str(lookup_fact(facts, name, rel))

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
