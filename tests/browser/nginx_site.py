"""The browser tests' nginx site: the built pages (Page, discover_pages), the running server (Server) and the
shipped nginx recipe filled in (nginx_conf); moved out of conftest.py (issue 26: files under tests/ stay short)."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass
from pathlib import Path

from scow_tutorials import nginx

PREFIX = nginx.PREFIX


def nginx_binary() -> str | None:
    return nginx.binary()


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


# What an administrator adds to tutorial-headers.conf for the host (its comment says so): the tests check that
# it reaches every answer, which a server-level add_header would not.
HOST_HEADER = 'add_header Strict-Transport-Security "max-age=31536000" always;'


def nginx_conf(tmp: Path, port: int, site: Path, access_log: Path) -> Path:
    """The shipped recipe (deploy/nginx/) with its EDIT lines filled in, and the host's HSTS line added where
    tutorial-headers.conf tells administrators to add their own headers."""
    conf = nginx.write_config(tmp, port, site, access_log)
    headers = tmp / "tutorial-headers.conf"
    headers.write_text(headers.read_text(encoding="utf-8") + HOST_HEADER + "\n", encoding="utf-8")
    return conf
