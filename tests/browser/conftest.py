"""Browser tests: the built site, served by nginx with deploy/nginx/*.conf under /tutorial/, driven by Debian's
Chromium through Playwright.

One session: one build (SITE_URL=http://127.0.0.1:<port>/tutorial/), one nginx (the shipped recipe, so every
answer carries the build's Content-Security-Policy), one browser, and one crawl that opens every page of both
languages once (requests, console, axe in both palettes); the tests read the crawl.  Any CSP violation in any
browser context fails the test during which it happened (no_csp_violation).
Without /usr/bin/chromium or nginx the tests are skipped (failed when CI=true).
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from conftest import require_tool  # tests/conftest.py
from scow_tutorials import nginx
from scow_tutorials.common import CHROMIUM, CHROMIUM_ARGS, mkdocs_build
from tutorial_fixtures import free_port

from .nginx_site import Page, Server, discover_pages, nginx_binary, nginx_conf

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = nginx.NGINX_DIR
PREFIX = nginx.PREFIX
INSTALL_HINT = "sudo apt-get install chromium nginx fonts-wqy-microhei"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    require_tool(nginx_binary() is not None, "nginx", INSTALL_HINT)
    require_tool(os.access(CHROMIUM, os.X_OK), CHROMIUM, INSTALL_HINT)
    port = int(free_port())
    site = tmp_path_factory.mktemp("browser-site")
    build = mkdocs_build(site, SITE_URL=f"http://127.0.0.1:{port}{PREFIX}")
    if build.returncode != 0:
        pytest.fail("mkdocs build --strict failed:\n" + (build.stdout + build.stderr)[-4000:], pytrace=False)

    tmp = tmp_path_factory.mktemp("nginx")
    access_log = tmp / "tutorial-access.log"
    conf = nginx_conf(tmp, port, site, access_log)
    try:
        proc = nginx.start(conf, port)
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    srv = Server(port, site, access_log, tmp / "error.log", discover_pages(site))
    try:
        yield srv
    finally:
        nginx.stop(proc)


@pytest.fixture(scope="session")
def pages(server) -> list[Page]:
    assert server.pages, "the build has no pages"
    langs = {p.lang for p in server.pages}
    assert langs == {"zh", "en"}, f"pages of both languages expected, found {langs}"
    return server.pages


# Every page runs under the Content-Security-Policy the build generated (security-headers.conf, sent by the
# recipe).  Each browser context reports every violation (the securitypolicyviolation event) here; a test
# during which one happened fails (no_csp_violation), whichever context or test module it came from.
CSP_VIOLATIONS: list[str] = []
CSP_LISTENER = """document.addEventListener("securitypolicyviolation", e => {
  window.__scowCspViolation(`${e.effectiveDirective} refused ${e.blockedURI || "inline code"} in ${e.sourceFile}`
                            + `:${e.lineNumber} (${e.sample || "no sample"})`);
});"""


def csp_safe_wait_for_function(page) -> None:
    """Playwright's wait_for_function compiles its predicate with eval() inside the page, which the policy
    (no 'unsafe-eval') refuses; page.evaluate goes through the DevTools protocol and is not affected. So the
    pages of the browser tests poll with page.evaluate instead (same arguments, truthy value returned)."""
    def wait_for_function(expression: str, *, arg=None, timeout: float | None = None, polling=None):
        text = expression.strip()
        is_function = re.match(r"^(async\s+)?(function\b|\([^)]*\)\s*=>|[A-Za-z_$][\w$]*\s*=>)", text)
        call = text if is_function else f"() => ({text})"
        interval = polling / 1000 if isinstance(polling, (int, float)) else 0.05
        deadline = time.monotonic() + (timeout if timeout is not None else 30_000) / 1000
        while True:
            value = page.evaluate(call, arg)
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"wait_for_function: {expression!r} still false after the timeout")
            time.sleep(interval)

    page.wait_for_function = wait_for_function


def watch_csp(ctx) -> None:
    def report(source, text: str) -> None:
        CSP_VIOLATIONS.append(f"{source['page'].url}: {text}")

    ctx.expose_binding("__scowCspViolation", report)
    ctx.add_init_script(CSP_LISTENER)
    new_page = ctx.new_page

    def new_csp_safe_page(*args, **kwargs):
        page = new_page(*args, **kwargs)
        csp_safe_wait_for_function(page)
        return page

    ctx.new_page = new_csp_safe_page


@pytest.fixture(autouse=True)
def no_csp_violation():
    before = len(CSP_VIOLATIONS)
    yield
    found = CSP_VIOLATIONS[before:]
    if found:
        pytest.fail(f"{len(found)} Content-Security-Policy violations:\n  " + "\n  ".join(found[:20]), pytrace=False)


@pytest.fixture(scope="session")
def browser(server, playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    new_context = b.new_context

    def watched_context(*args, **kwargs):
        ctx = new_context(*args, **kwargs)
        watch_csp(ctx)
        return ctx

    b.new_context = watched_context   # every context of every browser test, also those made in test modules
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def context(browser, server):
    ctx = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    return context.new_page()


def same_origin(url: str, origin: str) -> bool:
    return url == origin or url.startswith(origin + "/")


def local_scheme(url: str) -> bool:
    """data: and blob: URLs never leave the browser."""
    return urlsplit(url).scheme in ("data", "blob")


@dataclass
class Visit:
    page: Page
    requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)    # same-origin 4xx/5xx or failed requests
    console_errors: list[str] = field(default_factory=list)
    axe: dict[str, list[str]] = field(default_factory=dict)   # scheme -> violations ("default", "slate")
    schemes: list[str] = field(default_factory=list)          # body[data-md-color-scheme] before/after toggle
    hreflang: dict[str, str] = field(default_factory=dict)    # language selector: lang -> resolved path


@dataclass
class Crawl:
    visits: list[Visit]
    explicit: dict[str, int]   # explicitly fetched URL path -> status


def record(ctx, origin: str, visit_of):
    """Attach listeners that file every request/response/console error under the current visit."""
    def on_request(req):
        visit_of().requests.append(req.url)

    def on_response(resp):
        if same_origin(resp.url, origin) and resp.status >= 400:
            visit_of().bad_responses.append(f"{resp.status} {resp.url}")

    def on_failed(req):
        if same_origin(req.url, origin):
            visit_of().bad_responses.append(f"failed ({req.failure}) {req.url}")

    ctx.on("request", on_request)
    ctx.on("response", on_response)
    ctx.on("requestfailed", on_failed)


# axe's colour rules (color-contrast, link-in-text-block) are what makes it slow: seconds per page.  So:
# - the other WCAG rules run once per page on the whole page (they do not depend on the palette);
# - the colour rules run in each palette, on the page's content, and on the whole page (header, navigation,
#   table of contents, footer: the same template on every page) for the first two pages of each language;
# - in code blocks, whose thousands of highlighted tokens look alike by token class, the colour rules check
#   one sample per distinct look (colour, weight, size, style, background) instead of every token.
COLOUR_RULES = ["color-contrast", "link-in-text-block"]
MARK_CODE_SAMPLES = """() => {
  const seen = new Set();
  document.querySelectorAll("[data-axe-sample]").forEach(el => el.removeAttribute("data-axe-sample"));
  for (const el of document.querySelectorAll(".highlight code *")) {
    // axe skips hidden text (other tabs) and cannot judge text scrolled out of its block: sample shown text.
    const box = el.getBoundingClientRect(), block = el.closest("code").getBoundingClientRect();
    if (!el.textContent.trim() || !box.width || box.left < block.left || box.right > block.right) continue;
    const s = getComputedStyle(el), code = getComputedStyle(el.closest("code"));
    const key = [s.color, s.fontWeight, s.fontSize, s.fontStyle, code.backgroundColor, !!el.closest(".hll")].join();
    if (!seen.has(key)) { seen.add(key); el.setAttribute("data-axe-sample", ""); }
  }
  return seen.size;
}"""
NO_TRANSITIONS = "*, *::before, *::after { transition: none !important; animation: none !important; }"


def run_axe(pg, context, options) -> list[str]:
    """axe.run in the page (axe-core injected beforehand); violations as readable lines."""
    result = pg.evaluate("([c, o]) => axe.run(c || document, o)", [context, dict(options, resultTypes=["violations"])])
    out = []
    for v in result["violations"]:
        targets = ", ".join(str(n["target"]) for n in v["nodes"][:4])
        out.append(f"{v['id']} ({v['impact']}, {len(v['nodes'])} nodes): {v['help']} — {targets}")
    return out


def colour_violations(pg, whole_page: bool) -> list[str]:
    pg.evaluate(MARK_CODE_SAMPLES)
    scope = "body" if whole_page else "article.md-content__inner"
    context = {"include": [[scope], ["[data-axe-sample]"]], "exclude": [[".highlight code"]]}
    return run_axe(pg, context, {"runOnly": {"type": "rule", "values": COLOUR_RULES}})


def settle(pg, requests: list, quiet_ms: int = 300, limit_ms: int = 5000) -> None:
    """Wait until no new request was made for quiet_ms (the search worker loads its index and lunr after the
    load event); cheaper than networkidle's fixed 500 ms."""
    seen, waited = -1, 0
    while len(requests) != seen and waited < limit_ms:
        seen = len(requests)
        pg.wait_for_timeout(quiet_ms)
        waited += quiet_ms


@pytest.fixture(scope="session")
def crawl(browser, server, pages) -> Crawl:
    """Open every page once: record requests and console errors, read the language selector, run axe in the
    light palette, switch to the dark palette with Material's toggle and run axe's colour rules again."""
    from axe_playwright_python.sync_playwright import Axe

    axe_script = Axe().axe_script
    ctx = browser.new_context(color_scheme="light", viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(15_000)
    visits: list[Visit] = []
    record(ctx, server.origin, lambda: visits[-1])
    pg = ctx.new_page()

    def on_console(msg):
        if msg.type == "error":
            visits[-1].console_errors.append(msg.text)

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: visits[-1].console_errors.append(f"uncaught: {exc}"))
    explicit: dict[str, int] = {}
    whole_pages = {"zh": 2, "en": 2}   # pages per language still to check with the whole page in scope
    try:
        for p in pages:
            if visits:
                pg.evaluate("localStorage.clear()")   # forget the palette: every page starts light
            visit = Visit(p)
            visits.append(visit)
            pg.goto(server.url(p.path), wait_until="load")
            settle(pg, visit.requests)
            if not explicit:
                for path in (PREFIX + "sitemap.xml", PREFIX + "search/search_index.json"):
                    explicit[path] = pg.evaluate("async u => (await fetch(u, {cache: 'no-store'})).status", path)
            visit.hreflang = pg.eval_on_selector_all(
                "a.md-select__link[hreflang]",
                "els => Object.fromEntries(els.map(a => [a.hreflang, new URL(a.href).pathname]))")

            # A constructed style sheet: the CSP (style-src 'self') refuses an injected <style> element.
            pg.evaluate("css => { const s = new CSSStyleSheet(); s.replaceSync(css); "
                        "document.adoptedStyleSheets = [...document.adoptedStyleSheets, s]; }", NO_TRANSITIONS)
            pg.evaluate(axe_script)
            whole = whole_pages[p.lang] > 0
            whole_pages[p.lang] -= 1
            light = pg.get_attribute("body", "data-md-color-scheme")
            visit.schemes.append(light)
            visit.axe[light] = run_axe(pg, None, {"runOnly": {"type": "tag", "values": WCAG_TAGS},
                                                  "rules": {r: {"enabled": False} for r in COLOUR_RULES}})
            visit.axe[light] += colour_violations(pg, whole)
            pg.locator('label.md-header__button[for^="__palette"]:visible').click()
            pg.wait_for_function("s => document.body.dataset.mdColorScheme !== s", arg=light)
            dark = pg.get_attribute("body", "data-md-color-scheme")
            visit.schemes.append(dark)
            visit.axe[dark] = colour_violations(pg, whole)
    finally:
        ctx.close()
    return Crawl(visits, explicit)
