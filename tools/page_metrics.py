#!/usr/bin/env python3
"""How a reader meets each tutorial page: the numbers of issue 23's "first screen" and "short main path".

    .venv/bin/python tools/page_metrics.py --site DIR [--only NN[,NN...]] [--lang zh|en] [--json FILE]

DIR is a built site (``mkdocs build -d DIR``). The site is served from DIR by Python's http.server on a free
127.0.0.1 port and every tutorial page is loaded in headless Chromium (/usr/bin/chromium) at 1280x800 with
every ``<details>`` closed (collapsible blocks and the card's "more" block). Per page and language it prints:

first   y (px from the top of the document) of the first step: the top of the first *visible* element of the
        article, after the tutorial card, that is a code block (``pre``) or a portal step (an element with the
        class ``portal-form``, ``portal-path`` or ``first-step``, or the attribute ``data-first-step``).
        Target: <= 800 (the first screen).
card    height of the tutorial card (``section.tutorial-card``). Target: <= 120.
page    ``document.documentElement.scrollHeight`` with every ``<details>`` closed. Target: <= 6,000
        (issue 23: median <= 6,000, none above 9,000).
wide    shell code blocks the reader types (bash, sh, shell, console; not a published file's titled listing)
        that scroll sideways (``scrollWidth > clientWidth`` of their ``code``) at 1280 px, counted with every
        ``<details>`` open and every tab panel shown (``-v`` prints their longest line). Target: 0.

A value that misses its target is marked with ``!``. ``measure()`` is what tools/benchmark.py reuses.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import statistics
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from scow_tutorials.common import CHROMIUM, CHROMIUM_ARGS

if TYPE_CHECKING:
    from playwright.sync_api import ViewportSize

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
TARGETS = {"first": 800, "card": 120, "page": 6000, "wide": 0}
PAGE_MAX = 9000
LANGS = ("zh", "en")
STEP_SELECTOR = "pre, .portal-form, .portal-path, .first-step, [data-first-step]"
SHELL_CLASSES = ("language-bash", "language-sh", "language-shell", "language-console")

CLOSE_ALL = "document.querySelectorAll('details').forEach(d => { d.open = false; })"

FIRST_STEP_JS = """(selector) => {
  const article = document.querySelector('article') || document.body;
  const card = article.querySelector('section.tutorial-card');
  for (const el of article.querySelectorAll(selector)) {
    if (card && (card.contains(el) || (card.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_PRECEDING)))
      continue;
    const r = el.getBoundingClientRect();
    if (r.height <= 0 || r.width <= 0) continue;   // inside a closed <details> or a hidden tab
    const text = (el.innerText || '').trim().split('\\n')[0].slice(0, 60);
    return {y: Math.round(r.top + window.scrollY), tag: el.tagName.toLowerCase(), text};
  }
  return null;
}"""

CARD_JS = """() => {
  const card = document.querySelector('section.tutorial-card');
  return card ? Math.round(card.getBoundingClientRect().height) : null;
}"""

WIDE_JS = """(classes) => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  const style = document.createElement('style');
  style.textContent = '.tabbed-set > .tabbed-content > .tabbed-block { display: block !important; }';
  document.head.appendChild(style);
  const found = [];
  for (const box of document.querySelectorAll('article .highlight')) {
    const owner = box.closest('[class*="language-"]') || box;
    if (!classes.some(c => owner.classList.contains(c) || box.classList.contains(c))) continue;
    if (box.querySelector(':scope > .filename')) continue;   // a published file's listing, not typed
    const code = box.querySelector('pre > code');
    if (code && code.scrollWidth > code.clientWidth + 1)
      found.push(code.innerText.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), '').slice(0, 70));
  }
  style.remove();
  return found;
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def serve(site: Path) -> http.server.ThreadingHTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def tutorial_paths(site: Path) -> list[tuple[int, str]]:
    """(number, "tutorials/NN-slug/") of every tutorial of the build, from tutorials.json or the folders."""
    catalog = site / "tutorials.json"
    if catalog.is_file():
        data = json.loads(catalog.read_text(encoding="utf-8"))["tutorials"]
        return [(t["number"], f"tutorials/{t['slug']}/") for t in data]
    return [
        (int(p.name[:2]), f"tutorials/{p.name}/")
        for p in sorted((site / "tutorials").glob("[0-9][0-9]-*"))
        if (p / "index.html").is_file()
    ]


def measure_page(page, url: str) -> dict:
    page.goto(url, wait_until="load")
    page.evaluate(CLOSE_ALL)
    page.wait_for_timeout(50)
    step = page.evaluate(FIRST_STEP_JS, STEP_SELECTOR)
    result = {
        "first": step["y"] if step else None,
        "first_step": f"<{step['tag']}> {step['text']}" if step else None,
        "card": page.evaluate(CARD_JS),
        "page": page.evaluate("document.documentElement.scrollHeight"),
    }
    wide = page.evaluate(WIDE_JS, list(SHELL_CLASSES))
    result.update(wide=len(wide), wide_lines=wide)
    return result


def measure(site: Path, only: set[int] | None = None, langs=LANGS, extra: dict[str, str] | None = None) -> list[dict]:
    """Measure every tutorial page (or those numbered in ``only``) in each language; ``extra`` adds other pages
    by name -> site-relative path ("home zh" -> "")."""
    from playwright.sync_api import sync_playwright

    site = Path(site)
    server = serve(site)
    base = f"http://127.0.0.1:{server.server_port}/"
    targets = []
    for number, path in tutorial_paths(site):
        if only and number not in only:
            continue
        for lang in langs:
            targets.append({"number": number, "lang": lang, "path": ("" if lang == "zh" else f"{lang}/") + path})
    for name, path in (extra or {}).items():
        targets.append({"number": None, "lang": name, "path": path})
    rows = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                for target in targets:
                    rows.append({**target, **measure_page(page, base + target["path"])})
            finally:
                browser.close()
    finally:
        server.shutdown()
    return rows


def flag(key: str, value) -> str:
    if value is None:
        return "-"
    return f"{value:,}" + ("!" if value > TARGETS[key] else "")


def table(rows: list[dict]) -> str:
    head = f"{'page':<28}{'lang':<6}{'first':>8}{'card':>7}{'page':>9}{'wide':>6}  first step"
    out = [head, "-" * (len(head) + 20)]
    for r in rows:
        name = r["path"].split("/")[-2] if r["number"] is not None else r["lang"]
        lang = r["lang"] if r["number"] is not None else ""
        out.append(
            f"{name:<28}{lang:<6}{flag('first', r['first']):>8}{flag('card', r['card']):>7}"
            f"{flag('page', r['page']):>9}{flag('wide', r['wide']):>6}  {r['first_step'] or '(none)'}"
        )
    tutorials = [r for r in rows if r["number"] is not None]
    if tutorials:
        heights = [r["page"] for r in tutorials]
        out.append("")
        out.append(
            f"pages: {len(tutorials)}; first step <= {TARGETS['first']}: "
            f"{sum(1 for r in tutorials if r['first'] is not None and r['first'] <= TARGETS['first'])}; "
            f"card <= {TARGETS['card']}: {sum(1 for r in tutorials if (r['card'] or 0) <= TARGETS['card'])}; "
            f"page height median {statistics.median(heights):,.0f}, max {max(heights):,} "
            f"(targets {TARGETS['page']:,} / {PAGE_MAX:,}); wide shell blocks {sum(r['wide'] for r in tutorials)}"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, required=True, help="a built site (mkdocs build -d DIR)")
    parser.add_argument("--only", help="tutorial numbers, comma-separated (e.g. 03 or 3,10)")
    parser.add_argument("--lang", choices=LANGS, help="one language only")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    parser.add_argument("--verbose", "-v", action="store_true", help="print the lines of the wide shell blocks")
    args = parser.parse_args(argv)
    if not (args.site / "index.html").is_file():
        sys.exit(f"page_metrics.py: {args.site} is not a built site (no index.html)")
    only = {int(n) for n in args.only.split(",") if n.strip()} if args.only else None
    rows = measure(args.site, only, (args.lang,) if args.lang else LANGS)
    print(table(rows))
    if args.verbose:
        for r in rows:
            for line in r["wide_lines"]:
                print(f"  wide {r['path']}: {line}")
    if args.json:
        args.json.write_text(json.dumps(rows, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
