"""Files made from other files, never edited by hand: ``make regen`` (``python -m scow_tutorials.derived``)
rewrites them, and ``tests/test_derived.py`` fails when one is stale, without a tutorial environment.

* ``docs/tutorials/NN-slug/wheels.txt``, in a tutorial that has one: every package its ``requirements.txt``
  brings in, at exact versions, except what the container image already has (``IMAGE_HAS``: PyTorch and the
  packages only it needs). Resolved by uv against the package index pip is configured with, for the image's
  Python and platform. Its header records the SHA-256 of the requirements it was made from, so a changed pin is
  caught by reading two files (``stale``) and only ``make regen`` needs the index.
* README.md's table of card fields (from ``schema.FIELDS``) and table of shell blocks (from the pages' run
  markers), between ``<!-- NAME -->`` and ``<!-- /NAME -->`` markers.

    python -m scow_tutorials.derived           # rewrite every derived file
    python -m scow_tutorials.derived --check   # list the stale ones (exit 1 if any)
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from scow_tutorials import blocks, envs, schema
from scow_tutorials.common import ROOT
from scow_tutorials.registry import discover

WHEELS = "wheels.txt"
# What the tutorials' container images already hold: uv leaves these (and what only they need) out.
IMAGE_HAS = ("torch",)
IMAGE_PYTHON = ("3.11", "x86_64-manylinux_2_28")  # Python version and platform of the images' wheels
STAMP_RE = re.compile(r"^# Made by `make regen` from requirements\.txt \(sha256 ([0-9a-f]{12})\)", re.M)


# ------------------------------------------------------------------------------------------------ wheels.txt
def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if ROOT in path.parents else str(path)


def requirements_digest(reqs: Path) -> str:
    """The first 12 hex digits of the SHA-256 of the requirement lines (comments and blank lines aside)."""
    lines = [line.split("#", 1)[0].strip() for line in reqs.read_text(encoding="utf-8").splitlines()]
    return hashlib.sha256("\n".join(line for line in lines if line).encode()).hexdigest()[:12]


def pins(text: str) -> dict[str, str]:
    """``name==version`` lines of a requirements-style text, names normalised as pip does."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            found[re.sub(r"[-_.]+", "-", name.strip().lower())] = version.strip()
    return found


def resolve_wheels(folder: Path) -> str:
    """``wheels.txt`` as it must read now: its own leading comment lines (what the page's author wrote), the
    stamp, then uv's resolution (needs the package index)."""
    reqs = folder / "requirements.txt"
    with tempfile.TemporaryDirectory() as tmp:
        overrides = Path(tmp) / "image.txt"
        # An override that no Python satisfies drops the package, and what only it needs, from the resolution.
        overrides.write_text("".join(f'{name}; python_version < "0"\n' for name in IMAGE_HAS), encoding="utf-8")
        command = [
            *envs.uv_command(),
            "pip",
            "compile",
            str(reqs),
            "--override",
            str(overrides),
            "--quiet",
            "--python-version",
            IMAGE_PYTHON[0],
            "--python-platform",
            IMAGE_PYTHON[1],
            "--no-header",
            "--no-annotate",
            *envs.pip_config_flags(),
        ]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"uv could not resolve {_shown(reqs)}:\n{result.stdout}{result.stderr}")
    stamp = f"# Made by `make regen` from requirements.txt (sha256 {requirements_digest(reqs)}); do not edit.\n"
    header = ""
    for line in (folder / WHEELS).read_text(encoding="utf-8").splitlines(keepends=True):
        if not line.startswith("#"):
            break
        header += "" if STAMP_RE.match(line) else line
    return header + stamp + result.stdout


def wheels_problem(folder: Path) -> str | None:
    """Why ``folder/wheels.txt`` is stale, read from the two files alone; None when it is current."""
    path, reqs = folder / WHEELS, folder / "requirements.txt"
    text = path.read_text(encoding="utf-8")
    stamp = STAMP_RE.search(text)
    if stamp is None:
        return f"{_shown(path)} has no `make regen` stamp"
    if stamp.group(1) != requirements_digest(reqs):
        return f"{_shown(path)} was made from another requirements.txt (its pins changed since)"
    listed = pins(text)
    for name, version in pins(reqs.read_text(encoding="utf-8")).items():
        if name not in IMAGE_HAS and listed.get(name) != version:
            return f"{_shown(path)} lists {name}=={listed.get(name)}, requirements.txt pins {version}"
    return None


# ------------------------------------------------------------------------------------------- README tables
def blocks_table(docs: Path = ROOT / "docs") -> str:
    """The shell blocks of every tutorial page and where each runs (run markers), as a Markdown table."""
    rows = [
        "| tutorial | blocks | run by the walk (login / compute / container) | not run, and why |",
        "|---|---|---|---|",
    ]
    totals: Counter = Counter()
    for number, tutorial in discover(docs).items():
        found = blocks.shell_blocks(tutorial.page_text("zh"))
        nodes = Counter(b.node for b in found if b.node)
        reasons = Counter(b.reason for b in found if not b.node)
        ran = sum(nodes.values())
        totals.update(nodes)
        totals["none"] += sum(reasons.values())
        where = " / ".join(str(nodes.get(n, 0)) for n in blocks.NODES)
        why = "; ".join(f"{n} × {r}" if n > 1 else r for r, n in sorted(reasons.items())) or "–"
        rows.append(
            f"| {number} | {len(found)} | {ran} ({where}) | {sum(reasons.values())}: {why} |"
            if reasons
            else f"| {number} | {len(found)} | {ran} ({where}) | 0 |"
        )
    ran = sum(totals[n] for n in blocks.NODES)
    where = " / ".join(str(totals[n]) for n in blocks.NODES)
    rows.append(f"| all | {ran + totals['none']} | {ran} ({where}) | {totals['none']} |")
    return "\n".join(rows)


README_TABLES = {"fields-table": schema.readme_table, "blocks-table": blocks_table}


def section_re(name: str) -> re.Pattern:
    return re.compile(rf"^([ \t]*)<!-- {name} -->\n(.*?)^[ \t]*<!-- /{name} -->$", re.M | re.S)


def readme(text: str) -> str:
    """README.md with every generated table rewritten (each keeps the indentation of its markers)."""
    for name, make in README_TABLES.items():
        match = section_re(name).search(text)
        if match is None:
            raise RuntimeError(f"README.md has no <!-- {name} --> ... <!-- /{name} --> section")
        indent = match.group(1)
        body = "".join(f"{indent}{line}\n" for line in make().splitlines())
        text = text[: match.start(2)] + body + text[match.end(2) :]
    return text


# ------------------------------------------------------------------------------------------------- all
def wheels_folders(docs: Path = ROOT / "docs") -> list[Path]:
    return [t.folder for t in discover(docs).values() if (t.folder / WHEELS).exists()]


def stale() -> list[str]:
    """Every derived file that is not what ``make regen`` makes, and why (no package index needed)."""
    found = [p for folder in wheels_folders() if (p := wheels_problem(folder))]
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    current = readme(text)
    for name in README_TABLES:
        if section_re(name).search(current).group(2) != section_re(name).search(text).group(2):  # type: ignore[union-attr]
            found.append(f"README.md's table <!-- {name} --> is stale")
    return found


def regen() -> list[Path]:
    """Rewrite every derived file; returns those that changed."""
    changed = []
    for folder in wheels_folders():
        path = folder / WHEELS
        text = resolve_wheels(folder)
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    path = ROOT / "README.md"
    old = path.read_text(encoding="utf-8")
    if readme(old) != old:
        path.write_text(readme(old), encoding="utf-8")
        changed.append(path)
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        problems = stale()
        for problem in problems:
            print(f"stale: {problem} (run `make regen`)")
        return 1 if problems else 0
    for path in regen():
        print(f"rewrote {_shown(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
