"""The built site requests nothing outside its own origin: no web fonts, no CDN scripts or styles."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

from conftest import SITE_URL

CDN_HOSTS = ("fonts.googleapis.com", "fonts.gstatic.com", "cdn.jsdelivr.net", "unpkg.com",
             "cdnjs.cloudflare.com", "polyfill.io", "www.googletagmanager.com", "google-analytics.com")
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)|@import\s+['"]([^'"]+)""")


def external(url: str) -> bool:
    url = url.strip()
    if url.startswith(SITE_URL):
        return False
    return bool(re.match(r"^(https?:)?//", url))


def asset_urls(soup: BeautifulSoup) -> list[str]:
    """URLs the browser fetches by itself while loading the page (not links a reader clicks)."""
    urls = []
    for el in soup.select("script[src], img[src], iframe[src], audio[src], video[src], source[src], embed[src]"):
        urls.append(el["src"])
    for el in soup.select("img[srcset], source[srcset]"):
        urls += [part.split()[0] for part in el["srcset"].split(",") if part.strip()]
    for el in soup.select("link[href]"):
        rel = set(el.get("rel", []))
        if rel & {"stylesheet", "icon", "preload", "preconnect", "dns-prefetch", "modulepreload", "manifest",
                  "apple-touch-icon", "prefetch"}:
            urls.append(el["href"])
    for el in soup.select("object[data]"):
        urls.append(el["data"])
    for el in soup.select("[style]"):
        urls += [a or b for a, b in CSS_URL.findall(el["style"])]
    for style in soup.select("style"):
        urls += [a or b for a, b in CSS_URL.findall(style.get_text())]
    return urls


def test_html_loads_no_external_asset(built):
    problems = []
    pages = built.html_files()
    for page in pages:
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        problems += [f"{page.relative_to(built.site)}: {u}" for u in asset_urls(soup) if external(u)]
        text = page.read_text(encoding="utf-8")
        problems += [f"{page.relative_to(built.site)}: mentions {h}" for h in CDN_HOSTS if h in text]
        # Material loads Mermaid and MathJax from a CDN when a page uses them: keep such pages out.
        if soup.select(".mermaid, .arithmatex"):
            problems.append(f"{page.relative_to(built.site)}: Mermaid/math would load from a CDN")
    assert len(pages) >= 4
    assert not problems, "external requests:\n" + "\n".join(problems)


def test_css_loads_no_external_asset(built):
    problems = []
    sheets = sorted(built.site.rglob("*.css"))
    assert sheets, "no CSS in the build"
    for sheet in sheets:
        for a, b in CSS_URL.findall(sheet.read_text(encoding="utf-8")):
            if external(a or b):
                problems.append(f"{sheet.relative_to(built.site)}: {a or b}")
    assert not problems, "external URLs in CSS:\n" + "\n".join(problems)


def test_detector_flags_external_assets():
    html = ('<link rel="stylesheet" href="https://fonts.googleapis.com/css?family=Roboto">'
            '<script src="//cdn.example.org/x.js"></script><a href="https://pytorch.org">ok</a>')
    found = sorted(u for u in asset_urls(BeautifulSoup(html, "html.parser")) if external(u))
    assert found == ["//cdn.example.org/x.js", "https://fonts.googleapis.com/css?family=Roboto"]
