"""Shell blocks on tutorial pages, and where a reader runs each one.

Every shell fence (``bash``, ``sh``, ``shell``, ``console``) on a tutorial page that is not a snippet include of a
published file carries a marker on the line directly above its opening fence, at the fence's indentation::

    <!-- run: login -->            a login/data node shell (portal Shell): network, shared HOME, no GPU
    <!-- run: compute -->          an HPC compute node (interactive app, batch job): shared HOME, no network
    <!-- run: container -->        an AI-platform app or training-job container: only WORK_DIR, the attached
                                   model/dataset/algorithm and the mount point; a fresh ~; no network
    <!-- run: NODE SESSION -->     blocks with the same node and session run in one shell, in page order
    <!-- run: none: REASON -->     not run by the page walk; the reason stays in the page's source

The build strips the markers (``strip``) and stops on a shell block without one or on a malformed one
(``problems``); ``tests/walk/`` runs the marked blocks in models of those nodes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

NODES = ("login", "compute", "container")
SHELL_LANGS = frozenset({"bash", "sh", "shell", "console"})
MARKER_RE = re.compile(r"^[ \t]*<!--\s*run:\s*(?P<spec>.*?)\s*-->[ \t]*$")
ANY_MARKER_RE = re.compile(r"<!--\s*run\s*:")
FENCE_RE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`\n]*)$")
SESSION_RE = re.compile(r"^[A-Za-z0-9_-]+$")
# The build stops on a shell block without a marker.
REQUIRED = True
EXAMPLE = "<!-- run: login -->, <!-- run: compute -->, <!-- run: container -->, <!-- run: none: REASON -->"


@dataclass(frozen=True)
class Block:
    """One shell block of a page: ``line`` is the 1-based line of its opening fence."""

    line: int
    lang: str
    code: str
    spec: str | None  # the marker's text after "run:", None when the block has no marker

    @property
    def node(self) -> str | None:
        """login, compute or container; None for a block that is not run."""
        kind = (self.spec or "").split(":", 1)[0].split()
        return kind[0] if kind and kind[0] in NODES else None

    @property
    def session(self) -> str:
        words = (self.spec or "").split()
        return words[1] if self.node and len(words) > 1 else "1"

    @property
    def reason(self) -> str:
        """Why a ``none`` block is not run."""
        return (self.spec or "").partition(":")[2].strip() if not self.node else ""


def _lang(info: str) -> str:
    info = info.strip()
    if info.startswith("{"):
        info = info.strip("{} ").lstrip(".")
    return re.split(r"[\s{]", info, maxsplit=1)[0].lower() if info else ""


def _is_include(code: str) -> bool:
    lines = [line.strip() for line in code.splitlines() if line.strip()]
    return bool(lines) and all(line.startswith("--8<--") for line in lines)


def fences(lines: list[str]) -> Iterator[tuple[int, int, re.Match]]:
    """``(opening, closing, match)`` line indexes of each fenced block, in order (``closing`` is ``len(lines)`` for
    a block left open); ``match`` is the opening line's ``FENCE_RE`` match (indent, fence, info)."""
    i = 0
    while i < len(lines):
        match = FENCE_RE.match(lines[i])
        if not match:
            i += 1
            continue
        fence = match.group("fence")
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        yield i, j, match
        i = j + 1


def shell_blocks(text: str) -> list[Block]:
    """The page's shell blocks that a reader types (snippet includes of files are not), in page order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    for i, j, match in fences(lines):
        indent = match.group("indent")
        body = [line[len(indent) :] if line.startswith(indent) else line.lstrip() for line in lines[i + 1 : j]]
        code = "\n".join(body) + "\n"
        lang = _lang(match.group("info"))
        if lang in SHELL_LANGS and not _is_include(code):
            marker = MARKER_RE.match(lines[i - 1]) if i > 0 else None
            blocks.append(Block(line=i + 1, lang=lang, code=code, spec=marker.group("spec") if marker else None))
    return blocks


def spec_problem(spec: str) -> str | None:
    """What is wrong with a marker's text, or None."""
    head, _, reason = spec.partition(":")
    words = head.split()
    if words == ["none"]:
        return None if reason.strip() else "'none' needs a reason: <!-- run: none: REASON -->"
    if ":" in spec or not words or words[0] not in NODES or len(words) > 2:
        return f"'{spec}' is not NODE [SESSION] with NODE one of {', '.join(NODES)}, nor 'none: REASON'"
    if len(words) == 2 and not SESSION_RE.match(words[1]):
        return f"session name '{words[1]}' must be letters, digits, '-' or '_'"
    return None


def problems(text: str, required: bool = True) -> list[str]:
    """Every shell block without a valid marker, and every marker that stands above no shell block."""
    found = []
    blocks = shell_blocks(text)
    for block in blocks:
        if block.spec is None:
            if not required:
                continue
            found.append(
                f"line {block.line}: a {block.lang} block without a run marker on the line above its "
                f"fence; add one of {EXAMPLE}"
            )
        elif (problem := spec_problem(block.spec)) is not None:
            found.append(f"line {block.line - 1}: run marker {problem}")
    marked = {block.line - 1 for block in blocks if block.spec is not None}
    for number, line in enumerate(text.splitlines(), start=1):
        if ANY_MARKER_RE.search(line) and number not in marked:
            found.append(
                f"line {number}: a run marker must stand alone on the line directly above a shell "
                f"block's opening fence ({line.strip()})"
            )
    return found


def strip(text: str) -> str:
    """The page without its run markers (what Markdown renders)."""
    return "\n".join(line for line in text.split("\n") if not MARKER_RE.match(line))
