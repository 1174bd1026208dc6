"""The home pages show a catalog of the tutorials that exist; every tutorial shows its card."""

from __future__ import annotations

from bs4 import BeautifulSoup

from conftest import LANGS, tutorial_dirs

LABELS = {"zh": ["平台", "资源", "预计用时", "镜像", "模型", "数据集", "前置教程", "目标", "参考资料"],
          "en": ["Platform", "Resources", "Estimated time", "Image", "Model", "Dataset", "Prerequisites",
                 "Goal", "References"]}


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
    for folder in tutorial_dirs():
        for lang in LANGS:
            page = built.page(lang, f"tutorials/{folder.name}")
            card = soup_of(page).select_one("article section.tutorial-card")
            assert card is not None, f"{page} has no tutorial card"
            assert card["data-tutorial"] == str(int(folder.name[:2]))
            terms = [dt.get_text(strip=True) for dt in card.select("dt")]
            assert terms == LABELS[lang], f"{page}: card labels {terms}"
            assert card.find_previous("h1") is not None, f"{page}: the card must come after the title"
