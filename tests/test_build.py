"""The whole site builds strictly, without a warning, in both languages."""

import re

from conftest import LANGS, page_url, zh_pages


def test_strict_build_succeeds(build):
    assert build.returncode == 0, "mkdocs build --strict failed:\n" + build.log[-4000:]


def test_build_prints_no_warning(built):
    warnings = [line for line in built.log.splitlines() if re.search(r"\b(WARNING|ERROR)\b", line)]
    assert not warnings, "the build printed warnings:\n" + "\n".join(warnings)


def test_every_page_is_built_in_both_languages(built):
    missing = []
    for md in zh_pages():
        for lang in LANGS:
            html = built.page(lang, page_url(md))
            if not html.exists():
                missing.append(str(html.relative_to(built.site)))
    assert not missing, f"pages missing from the build: {missing}"


def test_pages_declare_their_language(built):
    for lang in LANGS:
        for md in zh_pages():
            text = built.page(lang, page_url(md)).read_text(encoding="utf-8")
            assert re.search(rf'<html[^>]*\blang="{lang}"', text), f"{md} ({lang}) lacks lang={lang}"
