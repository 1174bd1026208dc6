#!/usr/bin/env python3
"""Build the downloadable forms of the SCOW AI tutorials.

    SITE_URL=https://hpc.example.edu.cn/tutorial/ .venv/bin/python tools/bundle.py [--out DIR] [--no-pdf] [--no-en-pdf]

SITE_URL is the address the site is served at: the bundle's wget lines and portal YAML point there.
``make bundle`` refuses to run without it; run directly without it, the bundle is built for the local test
address (http://127.0.0.1:8000/) and a warning says so.

writes into DIR (default ``build/``):

* ``scow-ai-tutorials-offline.zip`` -- the whole site (both languages) built with ``OFFLINE_BUILD=true``
  (Material's ``offline`` plugin: no directory URLs, the search index inlined as ``search/search_index.js``).
  Unzip it and open ``scow-ai-tutorials/index.html`` in a browser: links and search work from ``file://``.
  Two fix-ups make it self-contained: the Web Worker shim that the plugin would load from unpkg.com is
  replaced by a local one (written below), and links that still end in ``/`` (the build's redirect pages)
  get ``index.html`` appended.
* ``scow-ai-tutorials-zh.pdf`` and ``scow-ai-tutorials-en.pdf`` -- the whole series as one document per
  language: a title page, a table of contents, the home page, then every tutorial in number order
  (discovered from ``docs/tutorials/NN-*/``). Printed by headless Chromium (``/usr/bin/chromium``, driven by
  Playwright's Python API) from the built pages' ``<article>`` contents with the site's own CSS.

It exits non-zero with a message naming the failed step.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import posixpath
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from scow_tutorials.common import CHROMIUM, CHROMIUM_ARGS, DEFAULT_SITE_URL, built_tutorials, mkdocs_build

ROOT = Path(__file__).resolve().parent.parent  # the project this script is part of (a test runs a broken copy)

ZIP_NAME = "scow-ai-tutorials-offline.zip"
ZIP_TOP = "scow-ai-tutorials"
PDF_NAME = "scow-ai-tutorials-{lang}.pdf"
WORKER_SHIM = "assets/javascripts/iframe-worker.js"
UNPKG_SHIM_RE = re.compile(r'<script src="https://unpkg\.com/iframe-worker/[^"]*"></script>')
# Relative URLs that end in "/" (directory URLs): file:// shows a folder listing, not the page.
DIR_URL_RE = re.compile(r'((?:href="|url=|location\.replace\("))((?![a-zA-Z][a-zA-Z0-9+.-]*:|/|#)[^"#?\s]*/)(?=["#?])')

UI = {
    "zh": {"contents": "目录", "home": "首页", "built": "生成日期", "online": "在线版"},
    "en": {"contents": "Contents", "home": "Home", "built": "Generated", "online": "Online version"},
}


class BundleError(Exception):
    pass


def tutorials(site: Path) -> list[dict]:
    """The tutorials the build holds, in number order: their entries of the build's tutorials.json."""
    return built_tutorials(site)


# --------------------------------------------------------------------------------------------- build


def build_site(site: Path, **env: str) -> float:
    """mkdocs build --strict into *site*; returns seconds; raises BundleError with the log tail."""
    start = time.perf_counter()
    result = mkdocs_build(site, ROOT, **env)
    if result.returncode != 0:
        log = (result.stdout + result.stderr).strip().splitlines()
        raise BundleError(
            f"mkdocs build --strict failed ({' '.join(f'{k}={v}' for k, v in env.items()) or 'default'} build), "
            "last lines of its log:\n  " + "\n  ".join(log[-25:])
        )
    return time.perf_counter() - start


# The offline plugin loads https://unpkg.com/iframe-worker/shim so that the search worker runs from file://.
# This is a local replacement: Chromium refuses `new Worker("file://...")`, so on file:// pages the worker
# script runs in a hidden iframe of the page's own origin. Material's search worker checks for
# `IFrameWorker` in its parent to find its lunr language files, and awaits `importScripts`.
WORKER_SHIM_JS = r"""/* Web Worker shim for file:// pages
   (SCOW AI tutorials offline bundle, written by tools/bundle.py). */
(function () {
  "use strict";
  if (location.protocol !== "file:" || window.IFrameWorker) return;

  function load(doc, src) {
    return new Promise(function (resolve, reject) {
      var script = doc.createElement("script");
      script.src = src;
      script.onload = function () { resolve(); };
      script.onerror = function () { reject(new Error("cannot load " + src)); };
      (doc.head || doc.documentElement).appendChild(script);
    });
  }

  class IFrameWorker extends EventTarget {
    constructor(url) {
      super();
      this.onmessage = null;
      this.onerror = null;
      this._queue = [];
      this._ready = false;
      var src = new URL(url, location.href).href;
      var frame = document.createElement("iframe");
      frame.setAttribute("aria-hidden", "true");
      frame.tabIndex = -1;
      frame.title = "search worker";
      frame.style.display = "none";
      (document.body || document.documentElement).appendChild(frame);
      this._frame = frame;
      var worker = this, scope = frame.contentWindow, doc = scope.document;
      scope.postMessage = function (data) {
        setTimeout(function () { worker._emit(new MessageEvent("message", { data: data })); }, 0);
      };
      scope.importScripts = function () {
        var urls = Array.prototype.slice.call(arguments);
        return urls.reduce(function (done, u) {
          return done.then(function () { return load(doc, new URL(u, src).href); });
        }, Promise.resolve());
      };
      scope.close = function () { worker.terminate(); };
      load(doc, src).then(function () {
        worker._ready = true;
        worker._queue.splice(0).forEach(function (data) { worker._deliver(data); });
      }, function (err) {
        worker._emit(new ErrorEvent("error", { message: err.message }));
      });
    }
    _emit(event) {
      this.dispatchEvent(event);
      var handler = this["on" + event.type];
      if (typeof handler === "function") handler.call(this, event);
    }
    _deliver(data) {
      var scope = this._frame.contentWindow;
      if (scope) scope.dispatchEvent(new scope.MessageEvent("message", { data: data }));
    }
    postMessage(data) {
      var worker = this;
      if (this._ready) setTimeout(function () { worker._deliver(data); }, 0);
      else this._queue.push(data);
    }
    terminate() {
      this._ready = false;
      this._queue = [];
      this._frame.remove();
    }
  }

  window.IFrameWorker = IFrameWorker;
  window.Worker = IFrameWorker;
})();
"""


def fix_offline_site(site: Path) -> None:
    """Make the offline build self-contained and its links file://-friendly."""
    # 404.html is for a web server (root-absolute links); from file:// nothing ever shows it.
    (site / "404.html").unlink(missing_ok=True)
    shim = site / WORKER_SHIM
    shim.parent.mkdir(parents=True, exist_ok=True)
    shim.write_text(WORKER_SHIM_JS, encoding="utf-8")
    for page in site.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        rel = posixpath.relpath(WORKER_SHIM, page.parent.relative_to(site).as_posix() or ".")
        new = UNPKG_SHIM_RE.sub(f'<script src="{rel}"></script>', text)
        new = DIR_URL_RE.sub(lambda m: m.group(1) + m.group(2) + "index.html", new)
        if new != text:
            page.write_text(new, encoding="utf-8")
    if not (site / "search" / "search_index.js").is_file():
        raise BundleError(
            "the offline build has no search/search_index.js: is Material's offline plugin enabled "
            "by OFFLINE_BUILD in mkdocs.yml?"
        )


def make_zip(site: Path, target: Path) -> None:
    """Zip *site* under one top folder, in a stable order with a fixed timestamp (reproducible)."""
    tmp = target.with_suffix(".zip.part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for path in sorted(p for p in site.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(f"{ZIP_TOP}/{path.relative_to(site).as_posix()}", date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, path.read_bytes())
    tmp.replace(target)


# ----------------------------------------------------------------------------------------------- PDF

PRINT_CSS = """
@page { size: A4; }
html { font-size: 112.5%; }
body, .md-typeset { font-family: "Liberation Sans", "DejaVu Sans", Arial, "WenQuanYi Micro Hei", sans-serif; }
.md-typeset code, .md-typeset kbd, .md-typeset pre {
  font-family: "DejaVu Sans Mono", "Liberation Mono", "WenQuanYi Micro Hei Mono", monospace; }
body { background: #fff; color: #000; display: block; }
.md-typeset { font-size: .7rem; }
.md-header, .md-footer, .md-sidebar, .md-tabs, .md-search, nav, form, button, .md-clipboard, .md-code__nav,
.md-code__button, .md-content__button, .md-source-file, .md-top, .md-dialog, .md-typeset .headerlink,
.md-typeset .tabbed-set > input { display: none !important; }
.md-typeset pre > code, .md-typeset code { white-space: pre-wrap !important; overflow-wrap: anywhere;
  word-break: break-word; overflow: visible !important; max-height: none !important; }
.md-typeset pre { break-inside: auto; }
.md-typeset h1, .md-typeset h2, .md-typeset h3, .md-typeset h4 { break-after: avoid; }
.md-typeset .admonition, .md-typeset details, .md-typeset figure, .md-typeset tr, .tutorial-card {
  break-inside: avoid; }
.md-typeset__scrollwrap, .md-typeset__table { overflow: visible !important; }
.print-chapter { break-before: page; }
.print-title { height: 240mm; display: flex; flex-direction: column; justify-content: center; text-align: center; }
.print-title h1 { font-size: 2.2rem; font-weight: 700; color: #1a237e; margin: 0 0 .6em; }
.print-title p { font-size: 1rem; margin: .3em 0; color: #333; }
.print-title .print-meta { font-size: .8rem; color: #555; margin-top: 2em; }
.print-toc { break-before: page; }
.print-toc h1 { font-size: 1.6rem; font-weight: 700; margin-bottom: 1em; }
.print-toc ol { list-style: none; padding: 0; font-size: .9rem; }
.print-toc li { margin: .5em 0; }
.print-toc a { color: #000; text-decoration: none; }
"""


def page_file(site: Path, lang: str, url: str) -> Path:
    base = site if lang == "zh" else site / "en"
    return base / url / "index.html"


def print_document(site: Path, lang: str, items: list[dict], site_url: str) -> Path:
    """Write site/_print-LANG.html: title page, contents, home page and every tutorial, and return it."""
    from bs4 import BeautifulSoup

    pages = [("", "home")] + [(f"tutorials/{t['slug']}", f"t{t['number']:02d}") for t in items]
    lang_root = "" if lang == "zh" else "en/"
    # site-relative path of each page's HTML -> chapter anchor
    anchors = {f"{lang_root}{url + '/' if url else ''}index.html": key for url, key in pages}
    # the other language's pages also map to the chapters (language switch links)
    other_root = "en/" if lang == "zh" else ""
    anchors.update({f"{other_root}{url + '/' if url else ''}index.html": key for url, key in pages})

    home_soup = None
    chapters, toc = [], []
    for url, key in pages:
        path = page_file(site, lang, url)
        if not path.is_file():
            raise BundleError(f"PDF ({lang}): the build has no page {path.relative_to(site)}")
        soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
        if home_soup is None:
            home_soup = soup
        article = soup.select_one("article.md-content__inner")
        if article is None:
            raise BundleError(f"PDF ({lang}): no <article> in {path.relative_to(site)}")
        page_rel = path.relative_to(site).as_posix()
        for el in article.select(".headerlink, .md-content__button, .md-source-file, script, form, button, nav"):
            el.decompose()
        for el in article.select("details"):
            el["open"] = ""
        for el in article.select("[id]"):
            el["id"] = f"{key}-{el['id']}"
        for el in article.select("[for]"):
            el["for"] = f"{key}-{el['for']}"
        for el in article.select("[name]"):
            if el.name == "input":
                el["name"] = f"{key}-{el['name']}"
        for el in article.select("a[href]"):
            el["href"] = rewrite_link(str(el["href"]), page_rel, key, anchors, site_url)
        for el in article.select("img[src], source[src], video[src], audio[src]"):
            el["src"] = rewrite_asset(str(el["src"]), page_rel)
        for el in article.select("img[srcset], source[srcset]"):
            del el["srcset"]
        h1 = article.find("h1")
        title = h1.get_text(" ", strip=True) if h1 else (soup.title.get_text(strip=True) if soup.title else key)
        toc.append((key, title))
        chapters.append(f'<section class="print-chapter" id="{key}">\n{article.decode_contents()}\n</section>')

    if home_soup is None or home_soup.body is None:
        raise BundleError(f"PDF ({lang}): the build has no pages to print")
    head_css = []
    home_rel = page_file(site, lang, "").relative_to(site).as_posix()
    for link in home_soup.select('link[rel~="stylesheet"][href]'):
        head_css.append(f'<link rel="stylesheet" href="{html.escape(rewrite_asset(str(link["href"]), home_rel))}">')
    body = home_soup.body
    body_attrs = " ".join(
        f'{k}="{html.escape(v if isinstance(v, str) else " ".join(v))}"'
        for k, v in body.attrs.items()
        if k in ("dir",) or k.startswith("data-md-color")
    )
    meta = home_soup.select_one('meta[name="description"]')
    description = str(meta["content"]) if meta else ""
    site_name = (home_soup.title.get_text(strip=True) if home_soup.title else "SCOW AI").split(" - ")[0]
    ui = UI[lang]
    online = site_url + ("" if lang == "zh" else "en/")
    today = dt.date.today().isoformat()
    toc_items = "\n".join(f'<li><a href="#{key}">{html.escape(title)}</a></li>' for key, title in toc)
    document = f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}">
<head>
<meta charset="utf-8">
<title>{html.escape(site_name)}</title>
{chr(10).join(head_css)}
<style>{PRINT_CSS}</style>
</head>
<body {body_attrs}>
<div class="md-container"><main class="md-main"><div class="md-content"><div class="md-content__inner md-typeset">
<section class="print-title">
<h1>{html.escape(site_name)}</h1>
<p>{html.escape(description)}</p>
<p class="print-meta">{ui["online"]}: {html.escape(online)}<br>{ui["built"]}: {today}</p>
</section>
<section class="print-toc">
<h1>{ui["contents"]}</h1>
<ol>
{toc_items}
</ol>
</section>
{chr(10).join(chapters)}
</div></div></main></div>
</body>
</html>
"""
    out = site / f"_print-{lang}.html"
    out.write_text(document, encoding="utf-8")
    return out


def rewrite_asset(src: str, page_rel: str) -> str:
    """A relative asset URL of the page at *page_rel*, made relative to the site root (where the print
    document lives)."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//|^#", src):
        return src
    resolved = urlsplit(urljoin("http://site/" + page_rel, src))
    return resolved.path.lstrip("/") + (f"?{resolved.query}" if resolved.query else "")


def rewrite_link(href: str, page_rel: str, key: str, anchors: dict[str, str], site_url: str) -> str:
    """Links inside the print document: to a chapter (or a heading in it), else to the online site."""
    if href.startswith("#"):
        return f"#{key}-{href[1:]}" if len(href) > 1 else f"#{key}"
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//", href):
        return href
    parts = urlsplit(urljoin("http://site/" + page_rel, href))
    path = parts.path.lstrip("/")
    if path.endswith("/") or not path:
        path += "index.html"
    if path in anchors:
        target = anchors[path]
        return f"#{target}-{parts.fragment}" if parts.fragment else f"#{target}"
    # a download or a page outside the series: the online site (directory URLs there)
    online = path[: -len("index.html")] if path.endswith("index.html") else path
    return site_url + online + (f"#{parts.fragment}" if parts.fragment else "")


def print_pdfs(site: Path, out: Path, langs: list[str], items: list[dict], site_url: str) -> list[Path]:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise BundleError(f"PDF: Playwright is not installed ({exc}); run: .venv/bin/pip install '.[test]'") from None
    if not Path(CHROMIUM).exists():
        raise BundleError(
            f"PDF: {CHROMIUM} is missing; install Debian's chromium (apt-get install chromium), "
            "or skip the PDFs with --no-pdf"
        )
    written = []
    footer = (
        '<div style="font-size:8px;width:100%;text-align:center;color:#555;'
        "font-family:'Liberation Sans','WenQuanYi Micro Hei',sans-serif;\">"
        '<span class="pageNumber"></span> / <span class="totalPages"></span></div>'
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for lang in langs:
                    doc = print_document(site, lang, items, site_url)
                    page = browser.new_page()
                    page.goto(doc.as_uri(), wait_until="load")
                    page.emulate_media(media="print")
                    page.evaluate("document.fonts.ready")
                    target = out / PDF_NAME.format(lang=lang)
                    page.pdf(
                        path=str(target),
                        format="A4",
                        print_background=True,
                        display_header_footer=True,
                        header_template="<span></span>",
                        footer_template=footer,
                        margin={"top": "16mm", "bottom": "18mm", "left": "15mm", "right": "15mm"},
                    )
                    page.close()
                    written.append(target)
            finally:
                browser.close()
    except PlaywrightError as exc:
        raise BundleError(f"PDF: Chromium failed: {exc}") from exc
    return written


# ---------------------------------------------------------------------------------------------- main


def site_url_of(site: Path) -> str:
    """The address the build was made for (tutorials.json records it, always with a trailing slash)."""
    return json.loads((site / "tutorials.json").read_text(encoding="utf-8"))["site_url"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder (default: build/)")
    parser.add_argument("--no-pdf", action="store_true", help="only the offline zip")
    parser.add_argument("--no-en-pdf", action="store_true", help="only the Chinese PDF")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    step = "offline build"
    try:
        with tempfile.TemporaryDirectory(prefix="scow-bundle-") as tmp:
            site = Path(tmp) / "site"
            site_url = os.environ.get("SITE_URL") or DEFAULT_SITE_URL
            if site_url == DEFAULT_SITE_URL:
                print(
                    f"bundle.py: warning: SITE_URL is not set: the bundle's wget lines and links point at the "
                    f"local test address {DEFAULT_SITE_URL} (e.g. SITE_URL=https://hpc.example.edu.cn/tutorial/)",
                    file=sys.stderr,
                    flush=True,
                )
            print(f"[bundle] {step} (OFFLINE_BUILD=true, SITE_URL={site_url}) ...", flush=True)
            seconds = build_site(site, OFFLINE_BUILD="true", SITE_URL=site_url)
            items = tutorials(site)
            print(
                f"[bundle]   built in {seconds:.1f} s, {len(items)} tutorials: " + ", ".join(t["slug"] for t in items),
                flush=True,
            )
            step = "offline fix-ups"
            fix_offline_site(site)
            step = "zip"
            zip_path = out / ZIP_NAME
            make_zip(site, zip_path)
            outputs = [zip_path]
            if not args.no_pdf:
                step = "PDF"
                langs = ["zh"] if args.no_en_pdf else ["zh", "en"]
                print(f"[bundle] PDF ({', '.join(langs)}) with {CHROMIUM} ...", flush=True)
                outputs += print_pdfs(site, out, langs, items, site_url_of(site))
    except BundleError as exc:
        print(f"bundle.py: {step} failed: {exc}", file=sys.stderr)
        return 1
    print("[bundle] written:")
    for path in outputs:
        print(f"  {path}  {path.stat().st_size / 1024:,.1f} KiB ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
