"""deploy/nginx/*.conf as a browser meets it: compression (the build's .gz files), caching, 404 page (also for
folders without index.html), redirect, security headers on every kind of answer."""

from __future__ import annotations

import gzip
import re

import pytest

from scow_tutorials import safety

from .conftest import NGINX_DIR, PREFIX


def hashed(server, pattern: str) -> str:
    found = sorted(server.site.glob(pattern))
    assert found, f"no {pattern} in the build"
    return PREFIX + found[0].relative_to(server.site).as_posix()


@pytest.fixture(scope="module")
def assets(server) -> dict[str, str]:
    return {
        "html": PREFIX + "tutorials/01-house-prices/",
        "css": hashed(server, "assets/stylesheets/main.*.min.css"),
        "js": hashed(server, "assets/javascripts/bundle.*.min.js"),
        "worker": hashed(server, "assets/javascripts/workers/search.*.min.js"),
        "index": PREFIX + "search/search_index.json",
        "extra_css": PREFIX + "assets/extra.css",
    }


@pytest.mark.parametrize("kind", ["html", "css", "js", "index"])
def test_gzip(server, assets, kind):
    status, headers, body = server.get(assets[kind], {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip", (status, dict(headers))
    assert "Accept-Encoding" in headers.get("Vary", "")
    plain = server.get(assets[kind])[2]
    assert gzip.decompress(body) == plain and len(body) < len(plain)


@pytest.mark.parametrize("kind", ["css", "js", "worker"])
def test_hashed_assets_are_immutable(server, assets, kind):
    headers = server.get(assets[kind])[1]
    assert headers["Cache-Control"] == "public, max-age=31536000, immutable", (assets[kind], dict(headers))


@pytest.mark.parametrize("kind", ["html", "index", "extra_css"])
def test_changing_files_are_revalidated(server, assets, kind):
    headers = server.get(assets[kind])[1]
    assert headers["Cache-Control"] == "no-cache", (assets[kind], dict(headers))
    assert headers.get("ETag") or headers.get("Last-Modified")


def test_missing_page_gets_the_theme_404_page(server):
    status, headers, body = server.get(PREFIX + "no-such-page/?token=x")
    theme_404 = (server.site / "404.html").read_bytes()
    assert status == 404 and body == theme_404, status
    assert b"md-header" in body and headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("query", ["", "?token=SECRET123"])
def test_redirect_to_trailing_slash(server, query):
    status, headers, _ = server.get(PREFIX.rstrip("/") + query)
    assert status == 301 and headers["Location"] in (PREFIX, server.url(PREFIX)), (status, headers["Location"])


def test_directory_redirect_is_relative(server):
    status, headers, _ = server.get(PREFIX + "tutorials/01-house-prices")
    assert status == 301 and headers["Location"] == PREFIX + "tutorials/01-house-prices/"


# Every kind of answer: a page, a theme file, a download (its own location), a missing page, a folder without
# index.html, the /tutorial redirect, a folder redirect, the generated include itself (refused).
ANSWERS = [PREFIX, PREFIX + "assets/extra.css", PREFIX + "tutorials/01-house-prices/train.py", PREFIX + "nope",
           PREFIX + "tutorials/", PREFIX.rstrip("/"), PREFIX + "tutorials/01-house-prices",
           PREFIX + safety.CSP_FILE]


def generated_csp(server) -> str:
    conf = (server.site / safety.CSP_FILE).read_text(encoding="utf-8")
    (policy,) = re.findall(r'^add_header Content-Security-Policy "([^"]+)" always;$', conf, re.M)
    return policy


@pytest.mark.parametrize("path", ANSWERS)
def test_security_headers(server, path):
    headers = server.get(path)[1]
    assert headers["Referrer-Policy"] == "no-referrer", (path, dict(headers))
    assert headers["X-Content-Type-Options"] == "nosniff", (path, dict(headers))
    assert "camera=()" in headers.get("Permissions-Policy", ""), (path, dict(headers))
    assert headers["Content-Security-Policy"] == generated_csp(server), (path, dict(headers))
    assert headers["X-Frame-Options"] == "DENY", (path, dict(headers))
    # The host's own header, added to tutorial-headers.conf as its comment says, reaches every location.
    assert headers["Strict-Transport-Security"] == "max-age=31536000", (path, dict(headers))
    assert headers.get("Cache-Control"), (path, dict(headers))


def test_csp_forbids_framing_plugins_and_base(server):
    policy = dict(d.split(" ", 1) for d in server.get(PREFIX)[1]["Content-Security-Policy"].split("; "))
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert policy["base-uri"] == "'self'" and "'unsafe-inline'" not in policy["script-src"]


def test_every_location_includes_the_shared_headers():
    """nginx drops inherited add_header lines in a location that has its own: each location of the recipe
    includes the one header file, none sets a header by itself."""
    conf = (NGINX_DIR / "tutorial.conf").read_text(encoding="utf-8")
    code = "\n".join(line.split("#", 1)[0] for line in conf.splitlines())
    blocks = re.findall(r"location\s[^{]*\{", code)
    assert len(blocks) >= 4, blocks
    assert "add_header" not in code, "add_header belongs in tutorial-headers.conf, included by every location"
    for match in re.finditer(r"location\s([^{]*)\{", code):
        body = code[match.end():]
        depth, end = 1, 0
        for i, ch in enumerate(body):
            depth += {"{": 1, "}": -1}.get(ch, 0)
            if depth == 0:
                end = i
                break
        own = re.sub(r"location\s[^{]*\{.*?\}", "", body[:end], flags=re.S)   # without nested locations
        if "return 404" in own:
            continue  # answers through error_page, in the enclosing location
        assert "tutorial-headers.conf;" in own, f"location {match.group(1).strip()} does not include the headers"
    readme = (NGINX_DIR.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "add_header" in readme, "README's Deploy section should explain add_header inheritance"


def test_server_tokens_off(server):
    _, headers, body = server.get(PREFIX + "tutorials/01-house-prices/x/y/z/../../../../../..//")
    assert headers["Server"] == "nginx", dict(headers)
    assert not re.search(rb"nginx/\d", body)


@pytest.mark.parametrize("folder", ["tutorials/", "admin/", "search/", "assets/", "assets/javascripts/"])
def test_folder_without_index_gets_the_404_page(server, folder):
    """Never nginx's bare 403 (which kept ?token= in the address bar and wrote it to error.log)."""
    assert not (server.site / folder / "index.html").exists(), f"test setup: {folder} has an index.html"
    status, _, body = server.get(PREFIX + folder + "?token=SECRET404")
    assert status == 404 and body == (server.site / "404.html").read_bytes(), (status, body[:200])
    errors = server.error_log.read_text(encoding="utf-8")
    assert "SECRET404" not in errors and "forbidden" not in errors, errors[-2000:]


@pytest.mark.parametrize("rel", ["index.html", "search/search_index.json", "assets/site.js"])
def test_precompressed_files_are_sent_as_built(server, rel):
    """gzip_static: the answer is the build's .gz file byte for byte, not a fresh compression."""
    path = PREFIX + ("" if rel == "index.html" else rel)
    status, headers, body = server.get(path, {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert body == (server.site / (rel + ".gz")).read_bytes()


def test_downloads_are_utf8_text(server):
    status, headers, _ = server.get(PREFIX + "tutorials/01-house-prices/train.py")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8", dict(headers)


def test_the_browser_enforces_the_generated_csp(page, server):
    """The policy is in force in Chromium and the harness sees its violations: an injected inline script is
    refused and reported (and then taken off the list, so that this test does not fail for it)."""
    from . import conftest

    page.goto(server.url(PREFIX + "tutorials/01-house-prices/?token=SECRET"))
    assert page.url == server.url(PREFIX + "tutorials/01-house-prices/"), "the hashed token scrub did not run"
    assert page.evaluate("typeof __md_get") == "function", "docs/assets/site.js did not run"
    before = len(conftest.CSP_VIOLATIONS)
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = 'window.__injected = 1';"
                  " document.head.appendChild(s); }")
    for _ in range(50):   # the report comes back through a binding, asynchronously
        if len(conftest.CSP_VIOLATIONS) > before:
            break
        page.wait_for_timeout(100)
    page.wait_for_timeout(300)
    found = conftest.CSP_VIOLATIONS[before:]
    del conftest.CSP_VIOLATIONS[before:]
    assert page.evaluate("window.__injected === undefined"), "an inline script without a hash ran"
    assert len(found) == 1 and "script-src" in found[0], found
