"""Chinese typography on the rendered pages: spaces between CJK and Latin text, full-width punctuation
between Chinese words, and no stray spaces from line breaks inside Chinese paragraphs."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup

from conftest import page_url, zh_pages
from scow_tutorials import portal

PORTAL_LABELS = portal.labels().known("hpc") | portal.labels().known("ai")
CHOICE = re.compile(r"^<[^<>]+>$")

HAN = "\u4e00-\u9fff"
CJK_TEXT = HAN + "\u2014\u2018\u2019\u201c\u201d\u2026\u3000-\u303f\uff00-\uffef"
RULES = [
    (re.compile(rf"[{HAN}][A-Za-z0-9]|[A-Za-z0-9][{HAN}]"), "put a space between Chinese and Latin text or numbers"),
    (re.compile(rf"[{HAN}][,;!?][{HAN}]|[{HAN}]\([{HAN}]"), "use full-width punctuation （，；！？） in Chinese"),
    (re.compile(rf"[{HAN}，。；：、）] +[{HAN}（]"), "no space between Chinese characters (a line break in the paragraph?)"),
    # A source line break between Chinese characters or Chinese punctuation (“ ” … included) survives in the
    # HTML and renders as a space in Chromium: overrides/hooks/cjk_breaks.py must have joined it.
    (re.compile(rf"[{CJK_TEXT}][ \t]*\n\s*[{CJK_TEXT}]"), "line break inside Chinese text renders as a space"),
]


def problems_in(html: str) -> list[str]:
    soup = BeautifulSoup(html, "html.parser")
    article = soup.select_one("article")
    for el in article.select("pre, code, kbd, script, style"):
        el.decompose()
    for el in article.select("strong"):  # the portal's own labels (单节点GPU卡数) are written as the portal writes them
        if all(s in PORTAL_LABELS or CHOICE.match(s) for s in el.get_text().split(" → ")):
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


def test_portal_labels_are_exempt_but_other_bold_text_is_not():
    assert not problems_in("<article><p>填写 <strong>单节点GPU卡数</strong>。</p></article>")
    assert problems_in("<article><p>填写 <strong>每个GPU的数</strong>。</p></article>")


def test_line_breaks_next_to_chinese_quotes_are_caught_and_joined():
    """Breaks seen in Chromium: after “…”, and after 。 in an indented list continuation."""
    from conftest import load_file

    join_cjk_lines = load_file("overrides/hooks/cjk_breaks.py").join_cjk_lines

    html = "<article><ul><li><p>走通\n“准备数据”，30 分钟足够），\n   其余都一样。\n   由于……</p></li></ul></article>"
    assert len([p for p in problems_in(html) if "line break" in p]) == 3
    joined = join_cjk_lines(html)
    assert "走通“准备" in joined and "），其余" in joined and "。由于" in joined
    assert not problems_in(joined)
    kept = "<pre><code>第一行\n第二行</code></pre><p>English line\nnext line</p>"
    assert join_cjk_lines(kept) == kept
