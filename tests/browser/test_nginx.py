"""deploy/nginx/*.conf as a browser meets it: compression, caching, 404 page, redirect, security headers."""

from __future__ import annotations

import gzip

import pytest

from .conftest import PREFIX


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


@pytest.mark.parametrize("path", [PREFIX, PREFIX + "assets/extra.css", PREFIX + "nope", PREFIX.rstrip("/")])
def test_security_headers(server, path):
    headers = server.get(path)[1]
    assert headers["Referrer-Policy"] == "no-referrer", (path, dict(headers))
    assert headers["X-Content-Type-Options"] == "nosniff", (path, dict(headers))


def test_downloads_are_utf8_text(server):
    status, headers, _ = server.get(PREFIX + "tutorials/01-house-prices/train.py")
    assert status == 200 and headers["Content-Type"] == "text/plain; charset=utf-8", dict(headers)
