"""Chinese is primary; every page has a complete English twin with the same code and downloads."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

from conftest import DOCS, ROOT, en_twin, page_url, zh_pages

SNIPPET = re.compile(r'^\s*-{1,2}8<-{1,2}\s+"([^"]+)"', re.M)
LOCAL_LINK = re.compile(r"\]\((?!https?://|#|mailto:)([^)\s]+?\.(?!md\b)[A-Za-z0-9]+)\)")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_every_page_has_both_languages():
    missing = [str(p.relative_to(ROOT)) for p in zh_pages() if not en_twin(p).exists()]
    orphans = [str(p.relative_to(ROOT)) for p in DOCS.rglob("*.en.md")
               if not p.with_name(p.name.replace(".en.md", ".md")).exists()]
    assert not missing, f"Chinese pages without an English page (add the .en.md twin): {missing}"
    assert not orphans, f"English pages without a Chinese page: {orphans}"


def test_twins_include_the_same_files_and_downloads():
    for zh in zh_pages():
        en = en_twin(zh)
        zh_text, en_text = zh.read_text(encoding="utf-8"), en.read_text(encoding="utf-8")
        assert SNIPPET.findall(zh_text) == SNIPPET.findall(en_text), f"{en.name}: snippet includes differ from {zh}"
        assert sorted(set(LOCAL_LINK.findall(zh_text))) == sorted(set(LOCAL_LINK.findall(en_text))), (
            f"{en.relative_to(ROOT)}: download links differ from the Chinese page"
        )


def _article_text(path) -> str:
    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    article = soup.select_one("article")
    for code in article.select("pre, code"):
        code.decompose()
    return article.get_text(" ", strip=True)


def test_english_pages_are_english(built):
    """Menu labels stay Chinese in English pages, but the prose must be English, not a fallback."""
    for zh in zh_pages():
        text = _article_text(built.page("en", page_url(zh)))
        cjk = len(CJK.findall(text))
        assert cjk / max(len(text), 1) < 0.08, (
            f"English page of {zh.relative_to(ROOT)} is {cjk} of {len(text)} characters Chinese: "
            "is it a Chinese fallback or half-translated?"
        )
        zh_text = _article_text(built.page("zh", page_url(zh)))
        assert len(text) > 0.6 * len(zh_text), (
            f"English page of {zh.relative_to(ROOT)} is much shorter than the Chinese one: a summary?"
        )


def test_one_english_placeholder_for_the_full_path():
    """The folder the reader noted is `<full path>` on every English page (as `<完整路径>` on the Chinese ones)."""
    odd = [p.relative_to(DOCS).as_posix() for p in sorted(DOCS.rglob("*.en.md"))
           if re.search(r"<full[-_]path>|<full-path", p.read_text(encoding="utf-8"))]
    assert not odd, f"write <full path>: {odd}"
