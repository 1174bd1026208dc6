"""The home pages show a catalog of the tutorials that exist; every tutorial shows its card."""

from __future__ import annotations

from bs4 import BeautifulSoup

from scow_tutorials import schema as site_schema
from conftest import LANGS, registry, tutorial_dirs



def soup_of(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_catalog_lists_every_tutorial_once(built):
    expected = {f"tutorials/{d.name}/" for d in tutorial_dirs()}
    for lang in LANGS:
        home = built.page(lang, "")
        rows = soup_of(home).select("article table tbody tr")
        links = [a["href"] for tr in rows for a in tr.select("a[href]") if "tutorials/" in a["href"]]
        normal = {h.split("#")[0] for h in links}
        assert normal == expected and len(links) == len(expected), f"{lang} catalog links: {links}"


def test_catalog_groups_by_section_in_the_page_language(built):
    for lang, heading in (("zh", "PyTorch 基础"), ("en", "PyTorch basics")):
        titles = [h.get_text(" ", strip=True) for h in soup_of(built.page(lang, "")).select("article h3")]
        assert any(heading in t for t in titles), f"{lang} catalog lacks the section '{heading}': {titles}"


def test_every_tutorial_shows_its_card_in_the_page_language(built):
    """Every card field appears, in the schema's order: the fields declared ``chip`` as chips of the first row
    (each with its label, for screen readers at least), the others in the card's collapsed block."""
    chips = [f.name for f in site_schema.chip_fields()]
    assert chips, "no card field is declared chip"
    for folder in tutorial_dirs():
        for lang in LANGS:
            page = built.page(lang, f"tutorials/{folder.name}")
            card = soup_of(page).select_one("article section.tutorial-card")
            assert card is not None, f"{page} has no tutorial card"
            assert card["data-tutorial"] == str(int(folder.name[:2]))
            row = [li["data-field"] for li in card.select("ul.tutorial-card__chips > li")]
            assert [f for f in row if f in chips] == chips, f"{page}: chips {row}"
            labels = [li.select_one(".tutorial-card__label").get_text(strip=True).rstrip(":：")
                      for li in card.select("ul.tutorial-card__chips > li") if li["data-field"] in chips]
            more = card.select_one("details.tutorial-card__more")
            assert more is not None and not more.has_attr("open"), f"{page}: the other fields must be collapsed"
            labels += [dt.get_text(strip=True) for dt in more.select("dt")]
            expected = [f.label[lang] for f in site_schema.chip_fields()]
            expected += [f.label[lang] for f in site_schema.card_fields() if f.name not in chips]
            assert labels == expected, f"{page}: card labels {labels}"
            assert card.find_previous("h1") is not None, f"{page}: the card must come after the title"


def test_card_shows_the_place_in_the_series_and_links_the_zip(built):
    total = len(registry())
    for tutorial in registry().values():
        for lang in LANGS:
            page = built.page(lang, tutorial.path.rstrip("/"))
            card = soup_of(page).select_one("article section.tutorial-card")
            position = card.select_one('[data-field="position"]').get_text(strip=True)
            expected = {"zh": f"教程 {tutorial.number} / {total}",
                        "en": f"Tutorial {tutorial.number} of {total}"}[lang]
            assert position == expected, f"{page}: {position!r}"
            link = card.select_one('[data-field="zip"] a')
            assert link is not None and link.has_attr("download"), f"{page}: no download link to the zip"
            target = (page.parent / link["href"]).resolve()
            assert target == (built.site / tutorial.path / f"{tutorial.slug}.zip").resolve(), link["href"]
            assert target.is_file(), f"{page}: {link['href']} is not in the build"


def test_every_card_says_what_was_verified(built):
    """The verification line names each file CI runs, each batch script run under Slurm, and the GPU status,
    from the card's `verified` field (tests/test_tutorial_model.py checks that field against the tests)."""
    for tutorial in registry().values():
        for lang in LANGS:
            page = built.page(lang, tutorial.path.rstrip("/"))
            line = soup_of(page).select_one("article .tutorial-card__verified dd").get_text(" ", strip=True)
            verified = tutorial.card[lang]["verified"]
            for name in verified["ci"] + verified["slurm"]:
                assert name in line, f"{page}: the verification line does not name {name}: {line!r}"
            if verified["slurm"]:
                assert ("Slurm" in line), line
            gpu_words = {"zh": "尚未在 GPU 上运行", "en": "Not yet run on a GPU"}[lang]
            assert (gpu_words in line) == (verified["gpu"] is None), f"{page}: {line!r}"
            if verified.get("note"):
                assert verified["note"] in line
