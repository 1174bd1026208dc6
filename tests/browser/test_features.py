"""What readers click: Chinese and English search, copy buttons, content tabs, previous/next links."""

from __future__ import annotations

import re
from urllib.parse import urljoin

import pytest

from .conftest import PREFIX

from tutorial_fixtures import search_probes

# (language, query, tutorial folder the first result must link to): per language and tutorial, the first of its
# probes (SEARCH_PROBES in its test module) that is one term, as Material ranks a query of several terms by any
# of them; tests/test_search.py checks every probe against the index.
PROBES = search_probes()
SEARCHES = [probe for i, probe in enumerate(PROBES) if " " not in probe[1]
            and not any(p[0] == probe[0] and p[2] == probe[2] and " " not in p[1] for p in PROBES[:i])]
# Chinese queries of several words, typed without spaces: Material's worker segments them against the index.
SEARCHES += [("zh", "下载模型", "tutorials/04-download-model/")]


# The copy button of the pinned Material (9.8).
COPY_BUTTON = 'button.md-code__button[data-md-type="copy"]'


def search(page, query: str, attempts: int = 20) -> list[str]:
    """Type the query into Material's search and return the result links' paths. A query typed before the
    search worker has its index is dropped silently, so retype it until results show (bounded)."""
    page.keyboard.press("/")   # Material's shortcut: opens the search and focuses the input
    box = page.locator("input.md-search__input")
    box.wait_for(state="visible")
    results = page.locator("a.md-search-result__link")
    for _ in range(attempts):
        box.fill(query)
        box.press("End")   # a real keystroke: Material listens to keyboard events
        try:
            results.first.wait_for(state="visible", timeout=500)
            break
        except Exception:
            box.fill("")
    else:
        pytest.fail(f"no search results for {query!r} after {attempts} attempts")
    return results.evaluate_all("els => els.map(a => new URL(a.href).pathname)")


@pytest.mark.parametrize(("lang", "query", "expected"), SEARCHES, ids=[q for _, q, _ in SEARCHES])
def test_search_finds_the_tutorial(page, server, lang, query, expected):
    root = PREFIX + ("en/" if lang == "en" else "")
    page.goto(server.url(root))
    paths = search(page, query)
    print(f"search {query!r} on {root}: {len(paths)} results, first {paths[0]}")
    assert paths[0] == root + expected, f"first result for {query!r}: {paths[:5]}, expected {root + expected}"


def test_copy_buttons_copy_the_exact_code(browser, server, pages):
    """On every tutorial's page (Chinese for even numbers, English for odd ones; both for Tutorial 1), the first
    code block titled with a file published next to the page copies exactly what it shows (every block on
    Tutorial 1's pages); the train.py block of Tutorial 1 copies the published train.py byte for byte. A sample:
    the button and the clipboard are Material's, the same for every block and page, and tests/test_code.py
    compares every listing with its file."""
    ctx = browser.new_context()
    ctx.set_default_timeout(10_000)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.origin)
    page = ctx.new_page()
    checked_pages, blocks, whole_files = 0, 0, 0
    try:
        for p in pages:
            every = p.rel == "tutorials/01-house-prices/"
            number = int(p.rel.split("/")[1][:2]) if p.rel.startswith("tutorials/") else None
            if number is None or (not every and p.lang != ("zh", "en")[number % 2]):
                continue
            if 'class="filename"' not in server.html(p):
                continue
            page.goto(server.url(p.path))
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
            titled = page.locator(".highlight:has(> .filename)")
            found = False
            for i in range(titled.count()):
                if found and not every:
                    break
                block = titled.nth(i)
                name = block.locator("> .filename").inner_text().strip()
                published = server.site / p.rel / name   # downloads are shared by both languages
                if not published.is_file() or not block.is_visible():
                    continue
                found = True
                page.evaluate("navigator.clipboard.writeText('')")
                block.hover()
                block.locator(COPY_BUTTON).click()
                page.wait_for_function("async () => (await navigator.clipboard.readText()) !== ''")
                copied = page.evaluate("navigator.clipboard.readText()")
                shown = block.locator("code").evaluate("el => el.textContent")
                assert copied.rstrip("\n") == shown.rstrip("\n"), f"{p.path} {name}: copied text differs from shown"
                blocks += 1
                if p.rel == "tutorials/01-house-prices/" and name == "train.py":
                    assert copied.rstrip("\n") == published.read_text(encoding="utf-8").rstrip("\n"), \
                        f"{p.path}: the copied train.py differs from the published file"
                    whole_files += 1
            checked_pages += found
    finally:
        ctx.close()
    print(f"copy buttons: {blocks} code blocks on {checked_pages} pages, {whole_files} compared with the file")
    assert checked_pages >= 8, f"only {checked_pages} pages had a titled block to copy"
    assert blocks and whole_files == 2, "expected train.py on the zh and en pages of tutorial 1"


def test_content_tabs_switch(page, server, pages):
    checked = 0
    for p in pages:
        if 'class="tabbed-set' not in server.html(p):
            continue
        page.goto(server.url(p.path))
        tabbed = page.locator(".tabbed-set").first
        labels = tabbed.locator("> .tabbed-labels > label")
        panels = tabbed.locator("> .tabbed-content > .tabbed-block")
        assert labels.count() >= 2 and panels.count() == labels.count(), p.path
        # One panel shows at first: the first, or the tab of the same name chosen on an earlier page
        # (content.tabs.link remembers the choice across pages).
        shown = [i for i in range(panels.count()) if panels.nth(i).is_visible()]
        assert len(shown) == 1, f"{p.path}: initial tab state, panels shown: {shown}"
        other = 1 if shown[0] == 0 else 0
        labels.nth(other).click()
        panels.nth(other).wait_for(state="visible")
        assert not panels.nth(shown[0]).is_visible(), f"{p.path}: panel {shown[0]} still shown after a click"
        checked += 1
    print(f"content tabs switched on {checked} pages")
    assert checked, "no page with content tabs"
    t0 = next(p for p in pages if p.lang == "zh" and p.rel == "tutorials/00-python-env/")
    # The labels the page's source gives its first tab set (the build turns === "label" into <label>).
    first_set = re.search(r'<div class="tabbed-labels">(.*?)</div>', server.html(t0)).group(1)
    expected = [re.sub(r"<[^>]+>", "", x) for x in re.findall(r"<label[^>]*>(.*?)</label>", first_set)][:2]
    page.goto(server.url(t0.path))
    assert len(expected) == 2 and page.locator(".tabbed-labels > label").all_inner_texts()[:2] == expected


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_footer_next_and_previous_follow_the_navigation(page, server, pages, lang):
    """Following "next" from the home page visits every page of the language once, in the order of the
    navigation sidebar; following "previous" from the last page comes back the same way. The chain is read from
    the pages as nginx serves them; the browser clicks the first "next" and the last "previous" (the footer's
    links are plain links, the same on every page)."""
    root = PREFIX + ("en/" if lang == "en" else "")
    page.goto(server.url(root))
    nav_order = page.eval_on_selector_all(
        "nav.md-nav--primary a.md-nav__link[href]",
        "els => [...new Set(els.map(a => new URL(a.href)).filter(u => !u.hash).map(u => u.pathname))]")

    def footer(path: str, kind: str) -> str | None:
        status, _, body = server.get(path, headers={"Accept-Encoding": "identity"})
        assert status == 200, f"{path}: HTTP {status}"
        link = re.search(rf'<a [^>]*href="([^"]+)"[^>]*class="md-footer__link md-footer__link--{kind}"', body.decode())
        link = link or re.search(rf'<a [^>]*class="md-footer__link md-footer__link--{kind}"[^>]*href="([^"]+)"',
                                 body.decode())
        return urljoin(path, link.group(1)) if link else None

    forward = [root]
    while (following := footer(forward[-1], "next")) is not None:
        assert following not in forward, f"next leads back to {following}: {forward}"
        forward.append(following)
    backward = [forward[-1]]
    while (preceding := footer(backward[-1], "prev")) is not None:
        backward.append(preceding)
        assert len(backward) <= len(forward), f"previous goes past the first page: {backward}"
    print(f"footer ({lang}): {len(forward)} pages forward, {len(backward)} back")
    assert forward == nav_order, f"next-chain {forward} differs from the navigation {nav_order}"
    assert backward == forward[::-1]
    assert set(forward) == {p.path for p in pages if p.lang == lang}, "the chain misses pages of the build"
    for start, kind, expected in ((root, "next", forward[1]), (forward[-1], "prev", forward[-2])):
        page.goto(server.url(start))
        page.locator(f"a.md-footer__link--{kind}").click()
        page.wait_for_url(server.url(expected))


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_catalog_filters_by_platform_gpus_and_time(page, server, lang):
    """The home page's filters (docs/assets/catalog.js, a file: the page's CSP allows no inline code) show the
    form, and each choice leaves exactly the tutorials whose card matches; clearing shows all again."""
    page.goto(server.url(PREFIX + ("en/" if lang == "en" else "")))
    form = page.locator("form.catalog-filters")
    form.wait_for(state="visible")
    items = page.locator("li.catalog-item")
    total = items.count()
    assert total and page.locator("li.catalog-item:visible").count() == total

    def visible() -> list[dict]:
        return page.eval_on_selector_all("li.catalog-item", "els => els.filter(e => !e.hidden).map(e => "
                                         "({p: e.dataset.platform, g: +e.dataset.gpus, n: +e.dataset.nodes, "
                                         "t: +e.dataset.time}))")

    everything = visible()
    cases = [("platform", "ai", lambda i: i["p"] in ("ai", "both")),
             ("gpus", "0", lambda i: i["g"] == 0),
             ("gpus", "multi", lambda i: i["g"] > 1 or i["n"] > 1),
             ("time", "30", lambda i: i["t"] <= 30)]
    for name, value, keep in cases:
        page.select_option(f'select[data-filter="{name}"]', value)
        shown = visible()
        assert shown == [i for i in everything if keep(i)], f"{name}={value}: {shown}"
        assert page.locator(".catalog-section:visible").count() >= (1 if shown else 0)
        page.locator("button.catalog-filters__reset").click()
        page.wait_for_function(f"() => document.querySelectorAll('li.catalog-item:not([hidden])').length === {total}")
    print(f"catalog filters ({lang}): {total} tutorials, {len(cases)} filters checked")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_an_error_index_link_opens_its_folded_entry(page, server, lang):
    """Troubleshooting entries are folded (overrides/hooks/errors.py): following a link to one, here the Error
    index's last link, opens that entry and shows its heading; the other entries of the page stay closed."""
    page.goto(server.url(PREFIX + ("en/" if lang == "en" else "") + "errors/"))
    link = page.locator("article .error-index li > a").last
    target = link.get_attribute("href").split("#")[1]
    link.click()
    page.wait_for_url(re.compile(f"#{target}$"))
    heading = page.locator(f"h3#{target}")
    page.wait_for_function(f"document.getElementById('{target}').closest('details').open")
    box = heading.bounding_box()
    assert box is not None and 0 <= box["y"] < 800, f"#{target} is not on the screen: {box}"
    opened = page.evaluate("[...document.querySelectorAll('details.err-entry[open]')].map(d => d.querySelector('h3').id)")
    assert opened == [target], f"open entries after following #{target}: {opened}"
