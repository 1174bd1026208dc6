"""The shell blocks of the tutorial pages and where each runs (their run markers), as a Markdown table.

    python tools/blocks.py          # print the table README.md shows ("Shell blocks on the pages")

The page walk (tests/walk/) runs every block marked login, compute or container; the table counts
them, and the blocks marked ``none`` with their reasons. tests/test_tutorial_model.py checks that README.md
holds this table as printed."""

from __future__ import annotations

from collections import Counter

from scow_tutorials import blocks as site_blocks
from scow_tutorials import registry as site_registry
from scow_tutorials.common import ROOT


def table() -> str:
    rows = ["| tutorial | blocks | run by the walk (login / compute / container) | not run, and why |",
            "|---|---|---|---|"]
    totals: Counter = Counter()
    for number, folder in site_registry.discover(ROOT / "docs").items():
        blocks = site_blocks.shell_blocks(folder.page("zh").read_text(encoding="utf-8"))
        nodes = Counter(b.node for b in blocks if b.node)
        reasons = Counter(b.reason for b in blocks if not b.node)
        ran = sum(nodes.values())
        totals.update(nodes)
        totals["none"] += sum(reasons.values())
        where = " / ".join(str(nodes.get(n, 0)) for n in site_blocks.NODES)
        why = "; ".join(f"{n} × {r}" if n > 1 else r for r, n in sorted(reasons.items())) or "–"
        rows.append(f"| {number} | {len(blocks)} | {ran} ({where}) | {sum(reasons.values())}: {why} |"
                    if reasons else f"| {number} | {len(blocks)} | {ran} ({where}) | 0 |")
    ran = sum(totals[n] for n in site_blocks.NODES)
    where = " / ".join(str(totals[n]) for n in site_blocks.NODES)
    rows.append(f"| all | {ran + totals['none']} | {ran} ({where}) | {totals['none']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(table())
