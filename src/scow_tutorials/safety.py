"""What the build refuses to publish, and what it writes for the web server (the hook: overrides/hooks/safety.py).

Refused, each with the file and the rule:

* a symbolic link anywhere under ``docs/``, and any file whose real path is outside ``docs/`` (the build would
  publish the build host's files);
* a tutorial folder whose name breaks the slug rule (checked before anything else reads the folder);
* a Markdown page over ``PAGE_SOURCE_MAX`` bytes, a rendered page body over ``PAGE_HTML_MAX`` bytes;
* raw ``<script>`` (and ``<iframe>``, ``<object>``, ``<embed>``, ``<base>``) elements, inline event handlers
  (``onerror=``) and ``javascript:`` URLs in a page body (the theme's own scripts are not part of the body);
* ``extra.upstream_paths`` entries that are not plain relative paths inside the site.

(YAML anchors, aliases and oversized front matter are refused by ``frontmatter.read_front_matter``.)

Written after the last language is built (not for the offline bundle, which is opened from ``file://``):

* ``CSP_FILE`` in the site's root: an nginx include with the Content-Security-Policy, whose ``script-src``
  lists the SHA-256 of every distinct inline script the build emitted, and the framing headers;
* a ``.gz`` next to every text file, for nginx's ``gzip_static on``.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
from collections.abc import Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from scow_tutorials.frontmatter import FrontMatterError
from scow_tutorials.registry import FOLDER_RE

# Limits. The largest page today is about 28 KB of Markdown and 150 KB of rendered body; an 8.5 MB page grew
# the search index twentyfold.
PAGE_SOURCE_MAX = 256 * 1024
PAGE_HTML_MAX = 1024 * 1024

SLUG_RULE = (
    "a tutorial folder is named NN-slug: two digits, a hyphen, then lowercase ASCII words (a-z, 0-9) "
    "joined by single hyphens, e.g. docs/tutorials/15-image-search (the URL is permanent)"
)


class SafetyError(FrontMatterError):
    """The build would publish something it must not."""


def fail(problems: list[str]) -> None:
    if problems:
        raise SafetyError("\n".join(problems))


# ----------------------------------------------------------------------------------------- the docs tree
def tree_problems(docs: Path) -> list[str]:
    """Symbolic links under docs/ and entries whose real path leaves docs/ (named as docs/...)."""
    docs = Path(docs)
    real_docs = Path(os.path.realpath(docs))
    problems = []
    for folder, dirs, files in os.walk(docs, followlinks=False):
        for name in sorted(dirs) + sorted(files):
            path = Path(folder) / name
            rel = f"{docs.name}/{path.relative_to(docs).as_posix()}"
            if path.is_symlink():
                problems.append(
                    f"{rel}: is a symbolic link (to {os.readlink(path)}); the build publishes only "
                    "regular files inside docs/: copy the file into the folder instead"
                )
            elif not Path(os.path.realpath(path)).is_relative_to(real_docs):
                problems.append(
                    f"{rel}: its real path {os.path.realpath(path)} is outside docs/; the build "
                    "publishes only files inside docs/"
                )
    return problems


def file_problems(docs: Path, paths: list[str]) -> list[str]:
    """Files MkDocs collected from docs/ (``abs_src_path``) whose real path is outside it."""
    real_docs = Path(os.path.realpath(docs))
    return [
        f"{p}: its real path {os.path.realpath(p)} is outside docs/; the build publishes only files inside docs/"
        for p in paths
        if not Path(os.path.realpath(p)).is_relative_to(real_docs)
    ]


def slug_problems(docs: Path) -> list[str]:
    root = Path(docs) / "tutorials"
    if not root.is_dir():
        return []
    return [
        f"{Path(docs).name}/tutorials/{p.name}: {SLUG_RULE}; '{p.name}' is not"
        for p in sorted(root.iterdir())
        if p.is_dir() and not FOLDER_RE.match(p.name)
    ]


def size_problems(docs: Path) -> list[str]:
    problems = []
    for path in sorted(Path(docs).rglob("*.md")):
        size = path.stat().st_size
        if size > PAGE_SOURCE_MAX:
            problems.append(
                f"{Path(docs).name}/{path.relative_to(docs).as_posix()}: {size} bytes; a page may have "
                f"at most {PAGE_SOURCE_MAX} bytes of Markdown: split it, or publish the data as a "
                "download"
            )
    return problems


# ------------------------------------------------------------------------------------------ page bodies
UNSAFE_ELEMENTS = ("script", "iframe", "object", "embed", "base", "frame", "frameset")
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "data", "xlink:href", "poster", "background", "srcset")
UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:text/html")


class _BodyScanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # (rule, what to look for in the source: the tag as written, else a word of it)
        self.found: list[tuple[str, tuple[str, str]]] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        raw = self.get_starttag_text() or ""
        if tag in UNSAFE_ELEMENTS:
            self.found.append(
                (
                    f"raw <{tag}> element: pages may not carry their own {tag} elements "
                    "(a script belongs in a downloadable file shown with a snippet include)",
                    (raw, f"<{tag}"),
                )
            )
        for name, value in attrs:
            if name.startswith("on"):
                self.found.append((f"inline event handler {name}= on <{tag}>: pages may not run scripts", (raw, name)))
            elif name in URL_ATTRIBUTES and value:
                plain = re.sub(r"[\x00-\x20]+", "", value).lower()
                scheme = next((s for s in UNSAFE_SCHEMES if plain.startswith(s)), None)
                if scheme:
                    self.found.append(
                        (f"{scheme} URL in {name}= of <{tag}>: links must not run code", (raw, scheme.rstrip(":")))
                    )

    handle_startendtag = handle_starttag


def body_problems(html: str, rel: str, source: str = "") -> list[str]:
    """Unsafe markup in a rendered page body; the line of the source where it first appears when found."""
    problems = []
    if len(html.encode("utf-8")) > PAGE_HTML_MAX:
        problems.append(
            f"{rel}: the rendered page is {len(html.encode('utf-8'))} bytes; at most {PAGE_HTML_MAX} "
            "(snippet includes count): split the page, or link large files for download"
        )
    scanner = _BodyScanner()
    scanner.feed(html)
    scanner.close()
    lower = source.lower()
    for rule, needles in dict.fromkeys(scanner.found):
        at = next((i for i in (lower.find(n.lower()) for n in needles if n) if i >= 0), -1)
        where = f" (line {lower.count(chr(10), 0, at) + 1})" if at >= 0 else ""
        problems.append(f"{rel}{where}: {rule}")
    return problems


# ----------------------------------------------------------------------------------- titles and card
_MARKUP_RE = re.compile(r"<[A-Za-z/!?]")


def plain_text_problems(meta: Mapping[str, Any], rel: str) -> list[str]:
    """``title`` and ``description`` are written into <title>, the navigation and the search index as they are:
    no HTML markup."""
    return [
        f"{rel}: front matter '{key}' must be plain text, without HTML markup (<...>): {meta[key]!r}"
        for key in ("title", "description")
        if isinstance(meta.get(key), str) and _MARKUP_RE.search(meta[key])
    ]


def escaped(value):
    """Every string inside ``value`` (dicts, lists) HTML-escaped as ``markupsafe.Markup``: the card template
    prints it as it is, and a template that escapes again (``| e``) leaves it alone."""
    from markupsafe import escape

    if isinstance(value, str):
        return escape(value)
    if isinstance(value, dict):
        return {k: escaped(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escaped(v) for v in value]
    return value


# ------------------------------------------------------------------------------------- upstream paths
def upstream_path_problems(paths) -> list[str]:
    """``extra.upstream_paths``: tutorial number -> a plain relative path inside the site."""
    rule = (
        "must be a plain relative path inside the site: segments joined by '/', none empty, '.' or '..', "
        "no leading '/', no '\\', ':' or control characters"
    )
    problems: list[str] = []
    if paths is None:
        return problems
    if not isinstance(paths, dict):
        return [f"mkdocs.yml: extra.upstream_paths must map tutorial numbers to paths, not {type(paths).__name__}"]
    for number, path in paths.items():
        where = f"mkdocs.yml: extra.upstream_paths.{number}"
        if not isinstance(number, int) or not 0 <= number <= 99:
            problems.append(f"{where}: the key must be a tutorial number 0..99")
        if not isinstance(path, str) or not path:
            problems.append(f"{where}: {path!r} {rule}")
            continue
        segments = path.split("/")
        if (
            path.startswith("/")
            or any(s in ("", ".", "..") for s in segments)
            or re.search(r"[\\:\x00-\x1f\x7f]", path)
        ):
            problems.append(f"{where}: {path!r} {rule}")
    return problems


# ---------------------------------------------------------------------------------- what nginx includes
CSP_FILE = "security-headers.conf"
FRAME_ANCESTORS_ENV = "FRAME_ANCESTORS"
_SCRIPT_RE = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_ORIGIN_RE = re.compile(r"^(?:'self'|https?://[A-Za-z0-9.-]+(?::\d{1,5})?)$")
PERMISSIONS_POLICY = (
    "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()"
)


def inline_scripts(site: Path) -> dict[str, str]:
    """Every distinct inline script of the built HTML (data blocks such as Material's JSON config excluded):
    its 'sha256-...' source expression -> the first file that has it."""
    found: dict[str, str] = {}
    for path in sorted(Path(site).rglob("*.html")):
        for attrs, body in _SCRIPT_RE.findall(path.read_text(encoding="utf-8", errors="replace")):
            if re.search(r"\bsrc\s*=", attrs):
                continue
            kind = re.search(r"""\btype\s*=\s*["']?([^"'\s>]+)""", attrs)
            if kind and kind.group(1).lower() not in ("text/javascript", "module", "application/javascript"):
                continue
            digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
            found.setdefault(f"'sha256-{digest}'", path.relative_to(site).as_posix())
    return found


def frame_ancestors(value: str | None) -> str:
    """FRAME_ANCESTORS: unset or "'none'" (no site may frame the pages), or space-separated origins allowed to
    frame them (the SCOW portal's, e.g. https://hpc.example.edu.cn)."""
    value = (value or "").strip() or "'none'"
    if value == "'none'":
        return value
    bad = [v for v in value.split() if not _ORIGIN_RE.match(v)]
    if bad:
        raise SafetyError(
            f"{FRAME_ANCESTORS_ENV}={value!r}: {', '.join(bad)} is not an origin; give 'none' or "
            "origins such as https://hpc.example.edu.cn (scheme, host, optional port)"
        )
    return value


def csp(hashes: list[str], ancestors: str) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self' " + " ".join(hashes) if hashes else "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            "connect-src 'self'",
            "worker-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {ancestors}",
        ]
    )


def write_headers_include(site: Path, ancestors: str) -> Path:
    scripts = inline_scripts(site)
    lines = [
        "# Generated by the build (scow_tutorials.safety): do not edit, rebuild.  Included by",
        "# deploy/nginx/tutorial-headers.conf; reload nginx after deploying a build (the hashes change with the",
        "# pages' inline scripts).  Inline scripts allowed by hash:",
        *[f"#   {h}  first in {where}" for h, where in scripts.items()],
        f'add_header Content-Security-Policy "{csp(list(scripts), ancestors)}" always;',
    ]
    if ancestors == "'none'":
        lines.append('add_header X-Frame-Options "DENY" always;')
    else:
        lines.append(
            f"# {FRAME_ANCESTORS_ENV}={ancestors}: only CSP frame-ancestors (X-Frame-Options cannot name origins)"
        )
    out = Path(site) / CSP_FILE
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


# ------------------------------------------------------------------------------------- pre-compression
TEXT_SUFFIXES = {
    ".html",
    ".css",
    ".js",
    ".json",
    ".xml",
    ".svg",
    ".txt",
    ".map",
    ".py",
    ".sh",
    ".yaml",
    ".yml",
    ".toml",
    ".cfg",
    ".ini",
    ".md",
    ".csv",
}
GZIP_MIN = 512  # nginx's gzip_min_length in the recipe: smaller files are sent as they are


def precompress(site: Path) -> int:
    """Write ``name.gz`` (level 9, no name or time in the header: the same build gives the same bytes) next to
    every text file of at least GZIP_MIN bytes; returns how many."""
    count = 0
    for path in sorted(Path(site).rglob("*")):
        if path.suffix.lower() not in TEXT_SUFFIXES or not path.is_file() or path.stat().st_size < GZIP_MIN:
            continue
        data = path.read_bytes()
        gz = path.with_name(path.name + ".gz")
        gz.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
        os.utime(gz, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns))
        count += 1
    return count
