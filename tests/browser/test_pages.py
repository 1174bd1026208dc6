"""Every page of both languages, as a browser sees it (one visit per page, see conftest.crawl)."""

from __future__ import annotations

import pytest

from .conftest import PREFIX, WCAG_TAGS, local_scheme, same_origin


def report(what: str, crawl, problems: dict) -> None:
    print(f"{what}: {len(crawl.visits)} pages checked")
    assert not problems, f"{what}:\n" + "\n".join(f"{path}: {issue}" for path, issue in problems.items())


def test_no_request_leaves_the_origin(crawl, server):
    problems = {}
    for v in crawl.visits:
        outside = sorted({u for u in v.requests if not same_origin(u, server.origin) and not local_scheme(u)})
        if outside:
            problems[v.page.path] = outside
    # The crawl must have seen the page's own requests, or this test proves nothing.
    for v in crawl.visits:
        assert server.url(v.page.path) in v.requests, f"{v.page.path}: document request not recorded"
        assert any("/assets/javascripts/bundle." in u for u in v.requests), f"{v.page.path}: no bundle request"
    assert any(u.endswith("/search/search_index.json") for v in crawl.visits for u in v.requests), \
        "the search worker's index request was not recorded"
    report("requests outside " + server.origin, crawl, problems)


def test_no_failed_same_origin_response(crawl, server):
    problems = {v.page.path: v.bad_responses for v in crawl.visits if v.bad_responses}
    assert crawl.explicit == {PREFIX + "sitemap.xml": 200, PREFIX + "search/search_index.json": 200}, crawl.explicit
    report("same-origin 4xx/5xx or failed requests", crawl, problems)


def test_no_console_error(crawl):
    problems = {v.page.path: v.console_errors for v in crawl.visits if v.console_errors}
    report("console errors", crawl, problems)


def test_language_selector_points_to_the_same_page_in_the_other_language(crawl, pages):
    paths = {p.path for p in pages}
    problems = {}
    for v in crawl.visits:
        expected = {v.page.lang: v.page.path, ("zh" if v.page.lang == "en" else "en"): v.page.twin_path}
        if v.hreflang != expected:
            problems[v.page.path] = f"selector {v.hreflang}, expected {expected}"
        elif v.page.twin_path not in paths:
            problems[v.page.path] = f"{v.page.twin_path} is not a page of the build"
    report("language selector", crawl, problems)


def test_language_selector_click_both_ways(page, server, pages):
    """Click the selector like a reader (hover the globe, click the other language) on a tutorial page."""
    start = next((p for p in pages if p.lang == "zh" and p.rel.startswith("tutorials/")), pages[0])
    page.goto(server.url(start.path))
    for lang, expected in (("en", start.twin_path), ("zh", start.path)):
        page.locator(".md-header__option .md-select").first.hover()
        page.locator(f'a.md-select__link[hreflang="{lang}"]').click()
        page.wait_for_url(server.url(expected))
        assert page.locator("html").get_attribute("lang") == lang
    print(f"language selector clicked both ways on {start.path}")


def check_axe(crawl, scheme: str) -> None:
    problems = {}
    for v in crawl.visits:
        assert v.schemes == ["default", "slate"], f"{v.page.path}: palette toggle gave {v.schemes}"
        if v.axe[scheme]:
            problems[v.page.path] = "\n  " + "\n  ".join(v.axe[scheme])
    report(f"axe ({', '.join(WCAG_TAGS)}) in palette {scheme!r}", crawl, problems)


def test_axe_light_palette(crawl):
    check_axe(crawl, "default")


def test_axe_dark_palette(crawl):
    check_axe(crawl, "slate")


def test_first_screen_card_and_home_catalog(browser, server, pages):
    """At 1280x800: every tutorial card is one compact block (<= 120 px high, its details closed), and the home
    page shows its start-here line and the top of the catalog in the first screen (tools/page_metrics.py
    measures the rest of the first screen)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    page = ctx.new_page()
    problems = {}
    try:
        for p in pages:
            if not (p.rel.startswith("tutorials/") or p.rel == ""):
                continue
            page.goto(server.url(p.path))
            if p.rel == "":
                top = page.evaluate("document.querySelector('.catalog-item').getBoundingClientRect().top")
                if top > 800:
                    problems[p.path] = f"the catalog starts at {top:.0f} px"
                continue
            height = page.evaluate("document.querySelector('section.tutorial-card').getBoundingClientRect().height")
            if height > 120:
                problems[p.path] = f"card {height:.0f} px high"
    finally:
        ctx.close()
    assert not problems, problems


def test_the_browser_tests_share_one_worker(request):
    """Under ``--dist loadgroup`` every test here carries the ``@browser`` group (tests/conftest.py, tag_group), so
    the site, nginx and the crawl of every page are made once, on one worker."""
    if not getattr(request.config.option, "loadgroup", False):
        pytest.skip("not an xdist worker under --dist loadgroup (make test runs one)")
    assert request.node.nodeid.endswith("@browser"), request.node.nodeid
