"""Every page is in the navigation and every navigation entry exists, in both languages."""

import re

from bs4 import BeautifulSoup
from mkdocs.config import load_config

from conftest import DOCS, LANGS, ROOT, page_url, zh_pages

CJK = re.compile(r"[\u4e00-\u9fff]")


def nav_files(nav) -> list[str]:
    out = []
    for item in nav:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, dict):
            for value in item.values():
                out += nav_files(value) if isinstance(value, list) else [value]
    return out


def load_nav():
    config = load_config(str(ROOT / "mkdocs.yml"))
    return config


def test_nav_entries_exist_and_cover_every_page():
    nav = nav_files(load_nav()["nav"])
    for entry in nav:
        assert (DOCS / entry).exists(), f"mkdocs.yml nav lists {entry}, which does not exist"
        assert not entry.endswith(".en.md"), f"nav must list the Chinese page, not {entry}"
    pages = {md.relative_to(DOCS).as_posix() for md in zh_pages()}
    assert pages - set(nav) == set(), f"pages missing from the nav in mkdocs.yml: {sorted(pages - set(nav))}"
    assert len(nav) == len(set(nav)), "a page is listed twice in the nav"


def test_nav_sections_follow_the_series_order():
    config = load_nav()
    section_titles = [next(iter(item)) for item in config["nav"] if isinstance(item, dict)
                      and isinstance(next(iter(item.values())), list)]
    order = [s["zh"] for s in config["extra"]["sections"]]
    in_series = [t for t in section_titles if t in order]
    assert in_series == [t for t in order if t in section_titles], "nav sections out of series order"
    assert in_series, "no tutorial section in the nav"


def test_section_titles_are_translated():
    config = load_nav()
    i18n = config["plugins"]["i18n"].config
    en = next(lang for lang in i18n.languages if lang.locale == "en")
    for section in config["extra"]["sections"]:
        assert en.nav_translations.get(section["zh"]) == section["en"], (
            f"nav_translations for '{section['zh']}' must be '{section['en']}' (extra.sections)"
        )


def _nav_links(html_path):
    soup = BeautifulSoup(html_path.read_text(encoding="utf-8"), "html.parser")
    nav = soup.select_one("nav.md-nav--primary")
    return soup, nav


def test_built_navigation_lists_every_page_in_each_language(built):
    expected = {page_url(md) for md in zh_pages()}
    for lang in LANGS:
        home = built.page(lang, "")
        _, nav = _nav_links(home)
        assert nav is not None, f"{home} has no primary navigation"
        found = set()
        base = home.parent
        for a in nav.select("a.md-nav__link[href]"):
            href = a["href"].split("#")[0]
            target = (base / href).resolve()
            root = built.site if lang == "zh" else built.site / "en"
            try:
                rel = target.relative_to(root.resolve()).as_posix()
            except ValueError:
                raise AssertionError(f"{lang} nav links outside its language: {a['href']}")
            found.add("" if rel == "." else rel)
        assert found == expected, f"{lang} navigation: missing {expected - found}, extra {found - expected}"
        if lang == "en":
            labels = [el.get_text(" ", strip=True) for el in nav.select(".md-nav__link")]
            untranslated = [label for label in labels if CJK.search(label)]
            assert not untranslated, f"English navigation shows Chinese labels: {untranslated}"


def test_tutorial_pages_have_prev_next_links(built):
    for lang in LANGS:
        for md in zh_pages():
            if "tutorials/" not in md.as_posix():
                continue
            soup = BeautifulSoup(built.page(lang, page_url(md)).read_text(encoding="utf-8"), "html.parser")
            assert soup.select("a.md-footer__link"), f"{md} ({lang}) has no previous/next links"
