"""Chinese typography on the rendered pages: spaces between CJK and Latin text, full-width punctuation
between Chinese words, and no stray spaces from line breaks inside Chinese paragraphs."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

from conftest import page_url, zh_pages

HAN = "\u4e00-\u9fff"
RULES = [
    (re.compile(rf"[{HAN}][A-Za-z0-9]|[A-Za-z0-9][{HAN}]"), "put a space between Chinese and Latin text or numbers"),
    (re.compile(rf"[{HAN}][,;!?][{HAN}]|[{HAN}]\([{HAN}]"), "use full-width punctuation （，；！？） in Chinese"),
    (re.compile(rf"[{HAN}，。；：、）] +[{HAN}（]"), "no space between Chinese characters (a line break in the paragraph?)"),
]


def problems_in(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    article = soup.select_one("article")
    for el in article.select("pre, code, kbd, script, style"):
        el.decompose()
    found = []
    for text in article.find_all(string=True):
        for rule, advice in RULES:
            for m in rule.finditer(text):
                found.append(f"…{text[max(0, m.start() - 12): m.end() + 12]}… : {advice}")
    return found


def test_chinese_pages_follow_typography_rules(built):
    report = []
    for md in zh_pages():
        report += [f"{md.name} {page_url(md)}: {p}" for p in problems_in(built.page("zh", page_url(md)).read_text("utf-8"))]
    assert not report, "\n".join(report)


def test_rules_catch_bad_typography():
    html = "<article><p>使用GPU训练,然后（看）结果。</p><p>第一行，\n 第二行</p></article>"
    assert len(problems_in(html)) >= 3
