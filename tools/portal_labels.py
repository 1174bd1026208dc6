"""Refresh the portal label list (src/scow_tutorials/portal_labels.json) from an OpenSCOW checkout.

    git clone https://github.com/PKUHPC/OpenSCOW /tmp/OpenSCOW    # or any newer release
    python tools/portal_labels.py --openscow /tmp/OpenSCOW

HPC portal: every string of ``apps/portal-web/src/i18n/zh_cn.ts`` paired with ``en.ts`` by key (when one Chinese
string has several English ones, the app form's, the menu's or the session table's wins: that is where the
tutorials send readers). AI platform (Chinese only): every Chinese ``label``/``title`` and element text under
``apps/ai/src``. The script prints the labels that appeared and disappeared; the build then names every page that
uses a label the new release no longer has. Glosses of AI labels, newer-release names and the forms are written
by hand in ``src/scow_tutorials/portal.yml``.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "scow_tutorials" / "portal_labels.json"
PREFER = (
    "routes.",
    "pageComp.app.launchAppForm.",
    "pageComp.app.appSessionTable.",
    "pageComp.app.",
    "pages.apps.",
    "pageComp.job.submitJobForm.",
    "button.",
    "pageComp.fileManagerComp.fileManager",
    "pages.shell",
)
CJK = re.compile(r"[\u4e00-\u9fff]")
NOISE = re.compile(r"[，。！？!?{}]")  # messages and sentences, not labels


def i18n_strings(path: Path) -> dict[str, str]:
    """Flatten a nested ``export default { a: { b: "text" } }`` file into ``{"a.b": "text"}``."""
    out: dict[str, str] = {}
    stack: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("//"):
            continue
        opening = re.match(r'^["\']?([\w-]+)["\']?\s*:\s*\{\s*$', line)
        if opening:
            stack.append(opening.group(1))
            continue
        value = re.match(r'^["\']?([\w-]+)["\']?\s*:\s*(["`\'])(.*?)\2\s*,?\s*(//.*)?$', line)
        if value:
            out[".".join([*stack, value.group(1)])] = value.group(3)
            continue
        if line.startswith("}") and stack:
            stack.pop()
    return out


def hpc_labels(root: Path) -> dict[str, str]:
    i18n = root / "apps" / "portal-web" / "src" / "i18n"
    zh, en = i18n_strings(i18n / "zh_cn.ts"), i18n_strings(i18n / "en.ts")

    def rank(key: str) -> int:
        return next((i for i, prefix in enumerate(PREFER) if key.startswith(prefix)), len(PREFER))

    pairs: dict[str, tuple[int, str]] = {}
    for key, text in zh.items():
        if not CJK.search(text) or key not in en or len(text) > 16 or NOISE.search(text):
            continue
        if text not in pairs or rank(key) < pairs[text][0]:
            pairs[text] = (rank(key), en[key].strip())
    labels = {text: english for text, (_, english) in sorted(pairs.items())}
    labels.update({"Shell": "Shell", "QOS": "QOS"})  # Latin labels the CJK filter skips
    return labels


def ai_labels(root: Path) -> list[str]:
    found: set[str] = set()
    patterns = (
        re.compile(r"[\"'`]([^\"'`{}$\n]{1,16}?)(?:-\$\{[^}]*\})?[\"'`]"),
        re.compile(r">\s*([^<>{}\n]{1,16}?)\s*<"),
    )
    for path in sorted((root / "apps" / "ai" / "src").rglob("*.ts*")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for pattern in patterns:
            found.update(m.strip() for m in pattern.findall(text) if CJK.search(m) and not NOISE.search(m))
    return sorted(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--openscow", type=Path, required=True, help="an OpenSCOW checkout")
    args = parser.parse_args()
    commit = (
        subprocess.run(
            ["git", "-C", str(args.openscow), "rev-parse", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        or "unknown"
    )
    new = {"source": f"PKUHPC/OpenSCOW@{commit}", "hpc": hpc_labels(args.openscow), "ai": ai_labels(args.openscow)}
    old = json.loads(OUT.read_text(encoding="utf-8")) if OUT.exists() else {"hpc": {}, "ai": []}
    for side in ("hpc", "ai"):
        added = sorted(set(new[side]) - set(old[side]))
        gone = sorted(set(old[side]) - set(new[side]))
        print(f"{side}: {len(new[side])} labels; new: {', '.join(added) or '-'}; gone: {', '.join(gone) or '-'}")
    OUT.write_text(json.dumps(new, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT.relative_to(Path.cwd()) if OUT.is_relative_to(Path.cwd()) else OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
