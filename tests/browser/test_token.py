"""The SCOW portal appends ?token=<session token> to its links (after the #fragment of a deep link too).
The page must drop it from the address bar at once, keep the deep link working, and send it nowhere;
nginx must not log it."""

from __future__ import annotations

import re

import pytest

from .conftest import PREFIX

SECRET = "SECRET123"
T1 = PREFIX + "tutorials/01-house-prices/"


def heading_ids(server) -> list[str]:
    html = (server.site / "tutorials/01-house-prices/index.html").read_text(encoding="utf-8")
    ids = re.findall(r'<h2 id="([^"]+)"', html)
    assert ids, "tutorial 1 has no h2 with an id"
    return ids


def open_with_token(context, url: str):
    """Open url; return the page and every request made after the document request, with its headers."""
    page = context.new_page()
    later = []
    page.on("request", lambda req: later.append(req))
    page.goto(url, wait_until="domcontentloaded")
    return page, later


def assert_token_not_sent(requests) -> None:
    assert requests and requests[0].resource_type == "document", "the first request should be the document"
    checked = 0
    for req in requests[1:]:
        assert SECRET not in req.url, f"token in {req.url}"
        assert SECRET not in (req.all_headers().get("referer") or ""), f"token in the Referer of {req.url}"
        checked += 1
    print(f"{checked} later requests carry no token")
    assert checked >= 3, "too few requests seen to judge"


def test_head_starts_with_referrer_policy_and_token_script(server):
    """The no-referrer meta and the token script come before anything that loads a resource."""
    html = (server.site / "tutorials/01-house-prices/index.html").read_text(encoding="utf-8")
    head = html[: html.index("</head>")]
    meta, script = head.find('<meta name="referrer" content="no-referrer">'), head.find("history.replaceState")
    first_load = min(i for i in (head.find("<link"), head.find("<script src"), head.find("<style")) if i >= 0)
    assert 0 <= meta < script < first_load, "referrer meta and token script must precede every <link>/<script src>"
    assert head.count('<meta charset="utf-8">') == 1 and head.find('<meta charset="utf-8">') < meta


def test_token_in_query_is_removed(context, server):
    page, requests = open_with_token(context, server.url(T1 + f"?token={SECRET}"))
    assert page.url == server.url(T1), page.url
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)   # let the search worker load its index
    # A click on to the next page: no Referer, so nothing of the old address travels.
    page.locator("a.md-footer__link--next, a.md-footer__link--prev").first.click()
    page.wait_for_load_state("load")
    assert page.evaluate("document.referrer") == ""
    assert_token_not_sent(requests)


def test_token_after_other_parameters_keeps_them(context, server):
    page, _ = open_with_token(context, server.url(T1 + f"?a=1&token={SECRET}&b=2#x"))
    assert page.url == server.url(T1 + "?a=1&b=2#x"), page.url


def test_token_after_fragment_is_removed_and_deep_link_works(context, server):
    ids = heading_ids(server)
    target = ids[len(ids) // 2]   # a section in the middle: far enough down, with page left below it
    page, requests = open_with_token(context, server.url(T1 + f"#{target}?token={SECRET}"))
    assert page.url == server.url(T1 + f"#{target}"), page.url
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)
    top = page.locator(f"#{target}").evaluate("el => el.getBoundingClientRect().top")
    scrolled = page.evaluate("window.scrollY")
    print(f"#{target}: top {top:.0f}px after scrolling {scrolled:.0f}px")
    assert scrolled > 0 and 0 <= top < 200, f"#{target} is not at the top of the window (top {top}px)"
    assert_token_not_sent(requests)


@pytest.mark.parametrize("form", ["#{id}&token={token}", "?token={token}#{id}"])
def test_other_token_forms(context, server, form):
    target = heading_ids(server)[0]
    page, _ = open_with_token(context, server.url(T1 + form.format(id=target, token=SECRET)))
    assert page.url == server.url(T1 + f"#{target}"), page.url


def test_access_log_keeps_no_query_string(context, server):
    """The access log (format tutorial_scow_noquery) records paths only: no token, no '?' at all."""
    page, _ = open_with_token(context, server.url(T1 + f"?token={SECRET}"))
    page.wait_for_load_state("load")
    server.get(T1 + f"?token={SECRET}", headers={"Referer": server.url(PREFIX + f"?token={SECRET}")})
    server.get(PREFIX + f"no-such-page/?token={SECRET}")
    server.get(PREFIX.rstrip("/") + f"?token={SECRET}")
    log = server.access_log.read_text(encoding="utf-8")
    lines = log.splitlines()
    print(f"access log: {len(lines)} lines checked")
    assert f'"GET {T1} HTTP/1.1"' in log, "the access log does not record the requests"
    assert f'"{server.url(PREFIX)}"' in log, "the Referer (without its query) is not recorded"
    assert SECRET not in log and "?" not in log, [line for line in lines if SECRET in line or "?" in line][:3]
    assert SECRET not in server.error_log.read_text(encoding="utf-8"), "token in nginx's error log"


@pytest.mark.parametrize("path", [PREFIX + "tutorials/", PREFIX + "no-such-page/"])
def test_404_page_scrubs_the_token_and_works(context, server, path):
    """A folder without index.html and a missing page answer with the site's 404 page (under the CSP): the
    token leaves the address bar, the page has its header and search, and nginx's logs keep no token."""
    page, requests = open_with_token(context, server.url(path + f"?token={SECRET}"))
    assert page.url == server.url(path), page.url
    page.wait_for_load_state("load")
    assert page.locator("header.md-header").count() == 1
    page.keyboard.press("/")   # Material's shortcut: opens the search and focuses the input
    box, results = page.locator("input.md-search__input"), page.locator("a.md-search-result__link")
    for _ in range(20):   # a query typed before the worker has its index is dropped: retype it
        box.fill("PyTorch")
        box.press("End")
        try:
            results.first.wait_for(state="visible", timeout=500)
            break
        except Exception:
            box.fill("")
    assert results.count(), "no search results on the 404 page"
    assert_token_not_sent(requests)
    assert SECRET not in server.error_log.read_text(encoding="utf-8")
    assert SECRET not in server.access_log.read_text(encoding="utf-8")
