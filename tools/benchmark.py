#!/usr/bin/env python3
"""Benchmark of the built site (a script, not a test): prints numbers and compares them with the targets.

    .venv/bin/python tools/benchmark.py [--out DIR] [--no-lighthouse]

1. Build time: ``mkdocs build --strict``, best of 2 runs.
2. Page weight, per page kind (home zh/en, the largest tutorial zh/en): the bytes the browser fetches for the
   page's HTML + CSS + JS, each gzip-compressed (level 6, like a typical web server), same origin only,
   without images and without the search index (whose gzip size is printed on its own line). The page is
   loaded in headless Chromium (/usr/bin/chromium) and every response is counted, so only what the page
   really loads is included; without Chromium the <link>/<script> tags of the HTML are counted instead.
3. Lighthouse (performance with its default mobile emulation, accessibility, best practices, SEO), from the
   pinned npm package in tools/lighthouse (install: ``cd tools/lighthouse && npm ci``).
4. The first screen and the length of every tutorial page, per language (tools/page_metrics.py, Chromium at
   1280x800): y of the first step, card height, page height with every <details> closed, shell blocks that
   scroll sideways; and the search index's gzip size per language. ``--metrics-only DIR`` prints only these,
   for an existing build.

The site is built with SITE_URL=http://127.0.0.1:PORT/tutorial/ and served from its parent folder by
Python's http.server (gzip-compressing text files like a production server; --no-gzip serves them plain), so
it runs under a sub-path as in production. Results go to DIR/benchmark.json (default build/benchmark.json),
the Lighthouse reports to DIR/lighthouse/.
"""

from __future__ import annotations

import argparse
import functools
import gzip
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import page_metrics  # tools/page_metrics.py

from scow_tutorials.common import CHROMIUM, CHROMIUM_ARGS, RESOLVER_RULES, ROOT, built_tutorials, mkdocs_build

LIGHTHOUSE_DIR = ROOT / "tools" / "lighthouse"
LIGHTHOUSE = LIGHTHOUSE_DIR / "node_modules" / ".bin" / "lighthouse"
LIGHTHOUSE_CHROME_FLAGS = f'--headless=new --no-sandbox --disable-gpu --host-resolver-rules="{RESOLVER_RULES}"'
CATEGORIES = ("performance", "accessibility", "best-practices", "seo")
SUBPATH = "tutorial"
GZIP_LEVEL = 6
# Targets
TARGET_SCORES = {"performance": 95, "accessibility": 100, "best-practices": 100, "seo": 100}
TARGET_TUTORIAL_BYTES = 120_000  # 120 KB gzip, HTML + CSS + JS, without images


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0))


# ---------------------------------------------------------------------------------------------- build


def build(site: Path, site_url: str) -> float:
    start = time.perf_counter()
    result = mkdocs_build(site, SITE_URL=site_url)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        log = (result.stdout + result.stderr).strip().splitlines()
        sys.exit("benchmark.py: mkdocs build --strict failed:\n  " + "\n  ".join(log[-25:]))
    return seconds


COMPRESSIBLE = (".html", ".css", ".js", ".json", ".svg", ".xml", ".txt", ".py", ".sh")


class Handler(http.server.SimpleHTTPRequestHandler):
    """http.server's static file handler, quiet, and (like the production web server) gzip-compressing text
    files for clients that accept it, unless --no-gzip."""

    gzip = True

    def log_message(self, *args):  # keep the benchmark output readable
        pass

    def do_GET(self):
        path = Path(self.translate_path(self.path))
        if path.is_dir() and urlsplit(self.path).path.endswith("/"):
            path = path / "index.html"
        if not (
            self.gzip
            and path.is_file()
            and path.suffix in COMPRESSIBLE
            and "gzip" in self.headers.get("Accept-Encoding", "")
        ):
            return super().do_GET()
        body = gzip.compress(path.read_bytes(), compresslevel=GZIP_LEVEL, mtime=0)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Vary", "Accept-Encoding")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def serve(directory: Path, use_gzip: bool) -> http.server.ThreadingHTTPServer:
    handler = type("BenchmarkHandler", (Handler,), {"gzip": use_gzip})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(directory)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ----------------------------------------------------------------------------------------- page weight


def weight_in_browser(urls: dict[str, str], origin: str) -> dict[str, dict]:
    """Load each page in Chromium and gzip every same-origin response it fetches."""
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for kind, url in urls.items():
                page = browser.new_page()
                responses: list = []
                page.on("response", responses.append)
                page.goto(url, wait_until="networkidle")
                page.wait_for_timeout(300)
                totals = {"html": 0, "css": 0, "js": 0, "other": 0, "search_index": 0, "images_excluded": 0}
                files = []
                for r in responses:
                    if not r.url.startswith(origin) or r.status != 200:
                        continue
                    rtype = r.request.resource_type
                    path = urlsplit(r.url).path
                    try:
                        body = r.body()
                    except Exception:
                        continue
                    if path.endswith("search_index.json"):
                        totals["search_index"] += gz(body)
                        continue
                    if rtype in ("image", "media", "font"):
                        totals["images_excluded"] += gz(body)
                        continue
                    key = {"document": "html", "stylesheet": "css", "script": "js"}.get(rtype, "other")
                    if key == "other" and path.endswith(".js"):
                        key = "js"  # the search worker and its lunr scripts
                    size = gz(body)
                    totals[key] += size
                    files.append({"path": path, "type": key, "gzip_bytes": size})
                totals["total"] = totals["html"] + totals["css"] + totals["js"]
                results[kind] = {"url": url, "gzip_bytes": totals, "files": files, "method": "chromium"}
                page.close()
        finally:
            browser.close()
    return results


def weight_static(pages: dict[str, Path], site: Path, base_url: str) -> dict[str, dict]:
    """Fallback without Chromium: the HTML and the stylesheets and scripts its tags reference."""
    from bs4 import BeautifulSoup

    results = {}
    for kind, path in pages.items():
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        page_url = base_url + path.relative_to(site).as_posix()
        totals = {"html": gz(path.read_bytes()), "css": 0, "js": 0}
        refs = [("css", str(el["href"])) for el in soup.select('link[rel~="stylesheet"][href]')]
        refs += [("js", str(el["src"])) for el in soup.select("script[src]")]
        for key, ref in refs:
            url = urljoin(page_url, ref)
            if url.startswith(base_url):
                file = site / urlsplit(url).path[len(urlsplit(base_url).path) :]
                if file.is_file():
                    totals[key] += gz(file.read_bytes())
        index = site / "search" / "search_index.json"
        totals["search_index"] = gz(index.read_bytes()) if index.is_file() else 0
        totals["total"] = totals["html"] + totals["css"] + totals["js"]
        results[kind] = {"url": page_url, "gzip_bytes": totals, "method": "static"}
    return results


# ------------------------------------------------------------------------------------------ Lighthouse


def lighthouse(url: str, workdir: Path) -> dict:
    report = workdir / (re.sub(r"[^a-z0-9]+", "-", url.lower()).strip("-") + ".json")
    env = dict(os.environ, CHROME_PATH=CHROMIUM)
    cmd = [
        str(LIGHTHOUSE),
        url,
        "--output=json",
        f"--output-path={report}",
        "--quiet",
        f"--only-categories={','.join(CATEGORIES)}",
        f"--chrome-flags={LIGHTHOUSE_CHROME_FLAGS}",
    ]
    result = subprocess.run(cmd, cwd=LIGHTHOUSE_DIR, env=env, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0 or not report.is_file():
        return {"error": (result.stdout + result.stderr).strip()[-1500:] or f"exit {result.returncode}"}
    data = json.loads(report.read_text(encoding="utf-8"))
    scores = {
        c: (round(data["categories"][c]["score"] * 100) if data["categories"][c]["score"] is not None else None)
        for c in CATEGORIES
    }
    findings = []
    for cat in CATEGORIES:
        for ref in data["categories"][cat]["auditRefs"]:
            audit = data["audits"][ref["id"]]
            if (
                ref.get("weight", 0)
                and audit.get("score") is not None
                and audit["score"] < 1
                and audit.get("scoreDisplayMode") in ("binary", "numeric", "metricSavings")
            ):
                findings.append(
                    {
                        "category": cat,
                        "id": ref["id"],
                        "score": audit["score"],
                        "title": audit.get("title", ""),
                        "display": audit.get("displayValue", ""),
                    }
                )
    for ref in data["categories"]["performance"]["auditRefs"]:
        audit = data["audits"][ref["id"]]
        if (
            not ref.get("weight")
            and audit.get("score") is not None
            and audit["score"] < 0.9
            and audit.get("scoreDisplayMode") in ("metricSavings", "binary", "numeric")
        ):
            findings.append(
                {
                    "category": "performance (diagnostic)",
                    "id": ref["id"],
                    "score": audit["score"],
                    "title": audit.get("title", ""),
                    "display": audit.get("displayValue", ""),
                }
            )
    metrics = {
        k: data["audits"][k].get("displayValue", "")
        for k in (
            "first-contentful-paint",
            "largest-contentful-paint",
            "total-blocking-time",
            "cumulative-layout-shift",
            "speed-index",
        )
        if k in data["audits"]
    }
    return {
        "scores": scores,
        "findings": findings,
        "metrics": metrics,
        "report": str(report),
        "lighthouse_version": data.get("lighthouseVersion"),
    }


# ----------------------------------------------------------------------------------------------- main


def mark(ok: bool | None) -> str:
    return "PASS" if ok else ("FAIL" if ok is not None else "n/a")


def index_sizes(site: Path) -> dict[str, int]:
    """gzip bytes of each language's search index."""
    found = {}
    for lang, folder in (("zh", site / "search"), ("en", site / "en" / "search")):
        index = folder / "search_index.json"
        if index.is_file():
            found[lang] = gz(index.read_bytes())
    return found


def print_metrics(site: Path) -> list[dict]:
    """tools/page_metrics.py's table for every tutorial page of both languages, and the search index sizes."""
    if not Path(CHROMIUM).is_file():
        print(f"page metrics: {CHROMIUM} is missing, skipped")
        return []
    rows = page_metrics.measure(site)
    print()
    print("First screen and length at 1280x800, <details> closed (tools/page_metrics.py):")
    print(page_metrics.table(rows))
    sizes = index_sizes(site)
    print(
        "search index gzip: "
        + ", ".join(f"{lang} {size:,} B" for lang, size in sizes.items())
        + " (target <= 100,000 B each)"
    )
    print(flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="where benchmark.json goes (default build/)")
    parser.add_argument("--runs", type=int, default=2, help="builds to time (best is reported; default 2)")
    parser.add_argument("--no-lighthouse", action="store_true", help="skip Lighthouse")
    parser.add_argument(
        "--tutorial",
        metavar="SLUG",
        help="tutorial folder to measure, e.g. 01-house-prices (default: the largest page)",
    )
    parser.add_argument(
        "--no-gzip",
        action="store_true",
        help="serve files uncompressed (plain http.server) instead of gzip like a production server",
    )
    parser.add_argument(
        "--metrics-only",
        type=Path,
        metavar="SITE",
        help="only the page metrics and search index sizes of an existing build (no build, no Lighthouse)",
    )
    args = parser.parse_args(argv)
    if args.metrics_only:
        print_metrics(args.metrics_only)
        return 0
    with tempfile.TemporaryDirectory(prefix="scow-benchmark-") as tmp:
        root = Path(tmp)
        site = root / SUBPATH
        server = serve(root, not args.no_gzip)
        base = f"http://127.0.0.1:{server.server_port}/{SUBPATH}/"
        try:
            times = []
            for i in range(max(1, args.runs)):
                times.append(build(site, base))
                print(f"build {i + 1}: {times[-1]:.2f} s", flush=True)
            build_s = min(times)

            slugs = [t["slug"] for t in built_tutorials(site)]
            if not slugs:
                sys.exit("benchmark.py: the build holds no tutorial")
            largest = args.tutorial or max(slugs, key=lambda s: (site / "tutorials" / s / "index.html").stat().st_size)
            pages = {
                "home zh": site / "index.html",
                "home en": site / "en" / "index.html",
                f"tutorial zh ({largest})": site / "tutorials" / largest / "index.html",
                f"tutorial en ({largest})": site / "en" / "tutorials" / largest / "index.html",
            }
            rels = {k: p.relative_to(site).parent.as_posix() for k, p in pages.items()}
            urls = {k: base if rel == "." else f"{base}{rel}/" for k, rel in rels.items()}
            if Path(CHROMIUM).is_file():
                weights = weight_in_browser(urls, f"http://127.0.0.1:{server.server_port}/")
            else:
                print(f"note: {CHROMIUM} is missing: page weight counts the HTML's <link>/<script> tags only")
                weights = weight_static(pages, site, base)

            print_metrics(site)
            scores: dict[str, dict] = {}
            lighthouse_note = None
            if args.no_lighthouse:
                lighthouse_note = "skipped (--no-lighthouse)"
            elif not LIGHTHOUSE.exists():
                lighthouse_note = (
                    "not installed: run `cd tools/lighthouse && npm ci` "
                    "(needs node >= 18.16 and npm), then run this script again"
                )
            elif not shutil.which("node"):
                lighthouse_note = "node is not on PATH"
            else:
                lh_dir = args.out.resolve() / "lighthouse"
                lh_dir.mkdir(parents=True, exist_ok=True)
                for kind, url in urls.items():
                    print(f"lighthouse: {kind} ...", flush=True)
                    scores[kind] = lighthouse(url, lh_dir)
        finally:
            server.shutdown()

    # ------------------------------------------------------------------ report
    print()
    print(f"Build time (mkdocs build --strict, best of {len(times)}): {build_s:.2f} s")
    print()
    head = f"{'page':<28}{'HTML':>8}{'CSS':>8}{'JS':>8}{'total':>9}  {'size':<5}"
    head += "".join(f"{c[:4]:>6}" for c in ("perf", "a11y", "bp", "seo"))
    print("gzip bytes (HTML + CSS + JS, same origin, no images, no search index) and Lighthouse scores")
    print(head)
    print("-" * len(head))
    checks = []
    for kind in pages:
        g = weights[kind]["gzip_bytes"]
        size_ok = g["total"] <= TARGET_TUTORIAL_BYTES if kind.startswith("tutorial") else None
        if size_ok is not None:
            checks.append((f"{kind}: gzip total <= {TARGET_TUTORIAL_BYTES:,} B", size_ok))
        line = f"{kind:<28}{g['html']:>8,}{g['css']:>8,}{g['js']:>8,}{g['total']:>9,}  {mark(size_ok):<5}"
        lh = scores.get(kind, {})
        for cat in CATEGORIES:
            value = lh.get("scores", {}).get(cat)
            line += f"{value if value is not None else '-':>6}"
            if "scores" in lh:
                checks.append(
                    (f"{kind}: {cat} >= {TARGET_SCORES[cat]}", value is not None and value >= TARGET_SCORES[cat])
                )
        print(line)
    index_gz = next(iter(weights.values()))["gzip_bytes"].get("search_index", 0)
    print(
        f"search index (search/search_index.json), gzip: {index_gz:,} B"
        + ("" if index_gz else " (not fetched by the page)")
    )
    print()
    if lighthouse_note:
        print(f"Lighthouse: {lighthouse_note}")
    for kind, lh in scores.items():
        if "error" in lh:
            print(f"Lighthouse error for {kind}:\n  {lh['error']}")
            checks.append((f"{kind}: Lighthouse ran", False))
        elif lh["findings"]:
            print(f"Lighthouse audits below full score, {kind}:")
            for f in lh["findings"]:
                print(f"  [{f['category']}] {f['id']} ({f['score']:.2f}) {f['title']} {f['display']}".rstrip())
    if scores:
        first = next((lh for lh in scores.values() if "metrics" in lh), None)
        if first:
            print(
                f"Lighthouse {first['lighthouse_version']}, mobile emulation, simulated throttling. Metrics of "
                + next(k for k, v in scores.items() if v is first)
                + ": "
                + ", ".join(f"{k} {v}" for k, v in first["metrics"].items())
            )
    print()
    print(
        "Targets: accessibility / best-practices / SEO 100, performance >= 95 (mobile), "
        f"tutorial page <= {TARGET_TUTORIAL_BYTES // 1000} KB gzip without images"
    )
    for name, ok in checks:
        print(f"  {mark(ok)}  {name}")

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    data = {
        "build_seconds_best": round(build_s, 3),
        "build_seconds_runs": [round(t, 3) for t in times],
        "gzip_level": GZIP_LEVEL,
        "pages": {
            kind: {"path": urls[kind].split(f"/{SUBPATH}/", 1)[1], **weights[kind], "lighthouse": scores.get(kind)}
            for kind in pages
        },
        "search_index_gzip_bytes": index_gz,
        "lighthouse_note": lighthouse_note,
        "targets": {"scores": TARGET_SCORES, "tutorial_gzip_bytes_max": TARGET_TUTORIAL_BYTES},
        "checks": [{"check": name, "pass": ok} for name, ok in checks],
    }
    (out / "benchmark.json").write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwritten: {out / 'benchmark.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
