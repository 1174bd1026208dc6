"""Every internal link and anchor in the built HTML of both languages resolves."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bs4 import BeautifulSoup

from conftest import LANGS, SITE_URL, page_url, zh_pages



@lru_cache(maxsize=None)
def ids_of(path: Path) -> frozenset[str]:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    return frozenset(el.get("id") or el.get("name") for el in soup.select("[id], a[name]"))


def resolve(site: Path, page: Path, url: str) -> tuple[Path, str] | None:
    """The file and fragment an internal URL points to; None for external links."""
    if url.startswith(SITE_URL):
        url = "/" + url[len(SITE_URL):]
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        return None
    path = unquote(parts.path)
    if not path:
        target = page
    elif path.startswith("/"):
        target = site / path.lstrip("/")
    else:
        target = (page.parent / path)
    if path.endswith("/") or target.is_dir():
        target = target / "index.html"
    return target.resolve(), unquote(parts.fragment)


def test_internal_links_and_anchors_resolve(built):
    problems = []
    checked = 0
    for page in built.html_files():
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        for el in soup.select("[href], [src]"):
            url = el.get("href") or el.get("src")
            if url.startswith(("mailto:", "data:", "javascript:", "tel:")):
                continue
            hit = resolve(built.site, page, url)
            if hit is None:
                continue
            target, fragment = hit
            checked += 1
            where = f"{page.relative_to(built.site)}: {url}"
            if not target.exists():
                problems.append(f"{where} -> missing {target}")
            elif fragment and target.suffix == ".html" and fragment not in ids_of(target):
                problems.append(f"{where} -> no anchor #{fragment}")
    assert checked > 100, f"only {checked} internal links found: is the site empty?"
    assert not problems, "broken internal links:\n" + "\n".join(problems)


def test_language_switch_lands_on_the_same_page(built):
    for md in zh_pages():
        url = page_url(md)
        pairs = {"zh": built.page("zh", url), "en": built.page("en", url)}
        for lang, page in pairs.items():
            soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
            links = {a["hreflang"]: a["href"] for a in soup.select("a.md-select__link[hreflang]")}
            assert set(links) == set(LANGS), f"{page}: language selector offers {sorted(links)}"
            for other, href in links.items():
                target, _ = resolve(built.site, page, href)
                assert target == pairs[other].resolve(), (
                    f"{page.relative_to(built.site)}: the {other} switch goes to {href}, not to the same page"
                )


def test_headings_have_ascii_ids_shared_by_both_languages(built):
    """Deep links (#anchor) must work in both languages, so section ids are explicit ASCII."""
    for md in zh_pages():
        ids = {}
        for lang in LANGS:
            soup = BeautifulSoup(built.page(lang, page_url(md)).read_text(encoding="utf-8"), "html.parser")
            heads = soup.select("article h2[id]")
            bad = [h["id"] for h in heads if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", h["id"])]
            assert not bad, f"{md} ({lang}): give these ## headings an ASCII id {{#like-this}}: {bad}"
            ids[lang] = [h["id"] for h in heads]
        assert ids["zh"] == ids["en"], f"{md}: section ids differ between languages: {ids}"
