"""The home pages show a catalog of the tutorials that exist; every tutorial shows its card."""

from __future__ import annotations

from bs4 import BeautifulSoup

from scow_tutorials import schema as site_schema
from conftest import LANGS, ROOT, registry, tutorial_dirs



def soup_of(path):
    return BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")


def test_catalog_lists_every_tutorial_once(built):
    expected = {f"tutorials/{d.name}/" for d in tutorial_dirs()}
    for lang in LANGS:
        home = built.page(lang, "")
        links = [a["href"] for a in soup_of(home).select("article .catalog-item a.catalog-item__title")]
        normal = {h.split("#")[0] for h in links}
        assert normal == expected and len(links) == len(expected), f"{lang} catalog links: {links}"
        for href in links:
            assert (home.parent / href / "index.html").is_file(), f"{lang} catalog: {href} is not a page"


def test_catalog_items_carry_the_card_values_the_filters_read(built):
    """Each catalog item shows every field declared ``catalog`` as the card shows it, and carries the platform,
    GPUs, nodes and time that docs/assets/catalog.js filters on."""
    tutorials = registry()
    for lang in LANGS:
        items = soup_of(built.page(lang, "")).select("article li.catalog-item")
        assert len(items) == len(tutorials)
        for item in items:
            tutorial = tutorials[int(item["data-number"])]
            card = tutorial.card[lang]
            assert item["data-platform"] == card["platform"] and item["data-time"] == str(card["time"])
            assert item["data-gpus"] == str(card["resources"]["gpus"])
            assert item["data-nodes"] == str(card["resources"]["nodes"])
            for field in site_schema.catalog_fields():
                shown = item.select_one(f'.catalog-item__facts [data-field="{field.name}"]')
                assert shown is not None and shown.get_text() == str(field.shown(card[field.name], lang)), \
                    f"{lang} catalog, tutorial {tutorial.number}: {field.name}"
            assert item.select_one(".catalog-item__desc").get_text() == tutorial.meta[lang]["description"]
        form = soup_of(built.page(lang, "")).select_one("article form.catalog-filters")
        assert form is not None and form.has_attr("hidden"), "the filters are hidden until the script runs"
        assert {s["data-filter"] for s in form.select("select")} == {"platform", "gpus", "time"}


def test_prerequisite_graph_draws_every_prerequisite(built):
    tutorials = registry()
    arrows = sum(len(t.card["zh"]["prerequisites"]) for t in tutorials.values())
    for lang in LANGS:
        home = built.page(lang, "")
        graph = soup_of(home).select_one("article svg.prerequisite-graph")
        assert graph is not None, f"{home}: no prerequisite graph"
        assert graph.find("title").get_text(strip=True)
        assert len(graph.select("path.graph__edge")) == arrows
        links = [a["href"] for a in graph.select("a[href]")]
        assert sorted(links) == sorted(t.path for t in tutorials.values())
        for a in graph.select("a[href]"):
            assert a.get("aria-label"), f"{home}: a graph box without an accessible name"


def test_home_starts_with_a_start_here_line_and_the_catalog(built):
    for lang, words in (("zh", "从这里开始"), ("en", "Start here")):
        article = soup_of(built.page(lang, "")).select_one("article")
        paragraphs = article.select("h1 ~ p")
        assert any(words in p.get_text() for p in paragraphs[:2]), f"{lang}: no start-here line at the top"
        first_h2 = article.find("h2")
        assert first_h2 is not None and first_h2.get("id") == "catalog", f"{lang}: the catalog is not the first section"


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


def test_a_badge_is_coloured_by_its_own_value(built):
    """A ``badge`` field's class names the field and its value (``tutorial-card__badge--platform-ai``), so a
    second badge field gets colours of its own instead of the platform's."""
    badges = [f.name for f in site_schema.card_fields() if f.card == "badge"]
    assert badges, "no card field is a badge"
    css = (ROOT / "docs" / "assets" / "extra.css").read_text(encoding="utf-8")
    for tutorial in registry().values():
        page = built.page("zh", tutorial.path.rstrip("/"))
        card = soup_of(page).select_one("article section.tutorial-card")
        for name in badges:
            value = tutorial.card["zh"][name]
            badge = card.select_one(f'[data-field="{name}"] .tutorial-card__badge')
            assert badge is not None and f"tutorial-card__badge--{name}-{value}" in badge["class"], f"{page}: {badge}"
    assert ".tutorial-card__badge--platform-ai" in css and ".tutorial-card__badge--ai " not in css


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
