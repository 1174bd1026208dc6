"""Browser tests: the built site, served by nginx with deploy/nginx/*.conf under /tutorial/, driven by Debian's
Chromium through Playwright.

One session: one build (SITE_URL=http://127.0.0.1:<port>/tutorial/), one nginx, one browser, and one crawl that
opens every page of both languages once (requests, console, axe in both palettes); the tests read the crawl.
Without /usr/bin/chromium or nginx the tests are skipped (failed when CI=true).
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from scow_tutorials.common import CHROMIUM, CHROMIUM_ARGS, mkdocs_build
from conftest import require_tool  # tests/conftest.py

ROOT = Path(__file__).resolve().parents[2]
NGINX_DIR = ROOT / "deploy" / "nginx"
PREFIX = "/tutorial/"
INSTALL_HINT = "sudo apt-get install chromium nginx fonts-wqy-microhei"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
# Placeholders in deploy/nginx/tutorial.conf that the test replaces (the lines marked "EDIT").
CONF_SITE = "/srv/tutorial-scow/site/"
CONF_LOG = "/var/log/nginx/tutorial-scow.access.log"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx",) if os.access(p, os.X_OK)), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass(frozen=True)
class Page:
    lang: str   # "zh" or "en"
    rel: str    # path below the language root: "" or "tutorials/01-house-prices/"
    path: str   # URL path: "/tutorial/en/tutorials/01-house-prices/"

    @property
    def twin_path(self) -> str:
        """The same page in the other language."""
        return PREFIX + ("" if self.lang == "en" else "en/") + self.rel


def discover_pages(site: Path) -> list[Page]:
    """Every index.html of both languages, except redirect stubs (meta refresh) and theme folders."""
    pages = []
    for html in sorted(site.rglob("index.html")):
        rel = html.parent.relative_to(site).as_posix()
        rel = "" if rel == "." else rel + "/"
        if rel.startswith(("assets/", "search/")):
            continue
        head = html.read_text(encoding="utf-8", errors="replace")[:4000]
        if re.search(r'http-equiv="?refresh', head, re.I):
            continue
        lang = "en" if rel.startswith("en/") else "zh"
        pages.append(Page(lang, rel[3:] if lang == "en" else rel, PREFIX + rel))
    return pages


@dataclass
class Server:
    port: int
    site: Path
    access_log: Path
    error_log: Path
    pages: list[Page]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.origin + path

    def html(self, page: Page) -> str:
        """The built HTML of a page (to skip pages that lack what a test looks for without opening them)."""
        return (self.site / page.path[len(PREFIX):] / "index.html").read_text(encoding="utf-8")

    def get(self, path: str, headers: dict | None = None, method: str = "GET"):
        """(status, headers, body) without following redirects or decoding gzip."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()


def nginx_conf(tmp: Path, port: int, site: Path, access_log: Path) -> Path:
    server_conf = (NGINX_DIR / "tutorial.conf").read_text(encoding="utf-8")
    assert CONF_SITE in server_conf and CONF_LOG in server_conf, "tutorial.conf lost its EDIT placeholders"
    server_conf = server_conf.replace(CONF_SITE, f"{site}/").replace(CONF_LOG, str(access_log))
    (tmp / "tutorial.conf").write_text(server_conf, encoding="utf-8")
    mime = Path("/etc/nginx/mime.types")
    # nginx as root starts its workers as another user, who could not read pytest's private tmp folders.
    user = "user root;" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {tmp / kind};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    conf = tmp / "nginx.conf"
    conf.write_text(f"""{user}
daemon off;
worker_processes 1;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'error.log'} info;
events {{ worker_connections 256; }}
http {{
    {'include ' + str(mime) + ';' if mime.exists() else 'types { text/html html; text/css css; application/javascript js; application/json json; image/svg+xml svg; }'}
    default_type application/octet-stream;
{temp}
    access_log {tmp / 'other-access.log'};
    include {NGINX_DIR / 'http-level.conf'};
    server {{
        listen 127.0.0.1:{port};
        server_name localhost;
        include {tmp / 'tutorial.conf'};
    }}
}}
""", encoding="utf-8")
    return conf


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    nginx = nginx_binary()
    require_tool(nginx is not None, "nginx", INSTALL_HINT)
    require_tool(os.access(CHROMIUM, os.X_OK), CHROMIUM, INSTALL_HINT)
    port = free_port()
    site = tmp_path_factory.mktemp("browser-site")
    build = mkdocs_build(site, SITE_URL=f"http://127.0.0.1:{port}{PREFIX}")
    if build.returncode != 0:
        pytest.fail("mkdocs build --strict failed:\n" + (build.stdout + build.stderr)[-4000:], pytrace=False)

    tmp = tmp_path_factory.mktemp("nginx")
    access_log = tmp / "tutorial-access.log"
    conf = nginx_conf(tmp, port, site, access_log)
    proc = subprocess.Popen([nginx, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    srv = Server(port, site, access_log, tmp / "error.log", discover_pages(site))
    try:
        deadline = time.monotonic() + 15
        while True:
            if proc.poll() is not None:
                pytest.fail("nginx did not start:\n" + proc.stderr.read().decode(errors="replace"), pytrace=False)
            try:
                if srv.get(PREFIX)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("nginx did not answer within 15 s", pytrace=False)
            time.sleep(0.1)
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def pages(server) -> list[Page]:
    assert server.pages, "the build has no pages"
    langs = {p.lang for p in server.pages}
    assert langs == {"zh", "en"}, f"pages of both languages expected, found {langs}"
    return server.pages


@pytest.fixture(scope="session")
def browser(server, playwright):
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
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

            pg.add_style_tag(content=NO_TRANSITIONS)
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
