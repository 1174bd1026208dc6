"""Build hook: one download per tutorial, links that download, and the card's first row.

* After the last language is built, every tutorial folder of the site gets ``NN-slug.zip``: every file the
  tutorial publishes there (scripts, configs, data, records; not the pages), at the top level of the archive,
  so ``wget .../NN-slug.zip && unzip -o NN-slug.zip`` in the tutorial's working folder gives the same files as
  one ``wget`` per file. The archive is reproducible: sorted names, fixed dates, modes 644 (755 when the file
  in docs/ is executable).
* On tutorial pages, every link to a published file of a tutorial gets the ``download`` attribute, so the
  browser saves the file instead of showing it.
* The card (``page.meta.tutorial_view``, made by tutorials.py) gets what its first row shows besides the fields
  declared ``chip`` in ``scow_tutorials.schema.FIELDS``: the place in the series ("教程 6 / 15") and the link to
  the zip; the other fields go into the card's collapsed block, whose summary names them.
"""

from __future__ import annotations

import os
import posixpath
import re
import zipfile
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page
from mkdocs.utils import get_relative_url

from scow_tutorials import registry, schema
from scow_tutorials.registry import PAGE_RE, STATE

ZIP_DATE = (1980, 1, 1, 0, 0, 0)
WORDS = {
    "zh": {
        "position": "教程 {n} / {total}",
        "zip": "下载全部文件（zip）",
        "more": "更多：{labels}",
        "join": "、",
        "colon": "：",
    },
    "en": {
        "position": "Tutorial {n} of {total}",
        "zip": "Download all files (zip)",
        "more": "More: {labels}",
        "join": ", ",
        "colon": ": ",
    },
}


def zip_name(slug: str) -> str:
    return f"{slug}.zip"


def chip_names() -> list[str]:
    return [f.name for f in schema.chip_fields()]


# ------------------------------------------------------------------------------------------- the card


@event_priority(-50)  # after tutorials.py made the card
def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    view = page.meta.get("tutorial_view")
    match = PAGE_RE.match(page.file.src_uri)
    if not view or not match:
        return markdown
    lang = "en" if page.file.src_uri.endswith(".en.md") else registry.DEFAULT_LANG
    words = WORDS[lang]
    tutorials = registry.current()
    tutorial = tutorials[int(match.group(1))]
    chips = chip_names()
    rest = [row["label"] for row in view["rows"] if row["name"] not in chips]
    view.update(
        chips=chips,
        colon=words["colon"],
        position_text=words["position"].format(n=tutorial.number, total=len(tutorials)),
        zip_url=get_relative_url(f"{tutorial.path}{zip_name(tutorial.slug)}", _page_url(page, config)),
        zip_text=words["zip"],
        more_text=words["more"].format(labels=words["join"].join(rest)),
    )
    return markdown


def _page_url(page: Page, config: MkDocsConfig) -> str:
    """The page's URL from the root of the whole site (the English build writes under en/)."""
    lang = "en" if page.file.src_uri.endswith(".en.md") else registry.DEFAULT_LANG
    prefix = "" if lang == registry.DEFAULT_LANG else f"{lang}/"
    url = page.url or ""
    return url if url.startswith(prefix) else prefix + url


# ------------------------------------------------------------------------------- links that download

LINK_RE = re.compile(r"<a\b([^>]*?)\bhref=\"([^\"#?]+)([^\"]*)\"([^>]*)>")


def published_files() -> dict[str, set[str]]:
    """slug -> the files its folder publishes (docs-relative to the folder)."""
    return {t.slug: set(t.files()) for t in registry.current().values()}


def tutorial_file(href: str, page_url: str, files: dict[str, set[str]]) -> bool:
    """Whether a link (as written in the page's HTML) points at a published file of a tutorial."""
    if re.match(r"^[a-z][a-z0-9+.-]*:", href) or href.startswith("/") or href.endswith("/"):
        return False
    base = page_url if page_url.endswith("/") else posixpath.dirname(page_url) + "/"
    path = posixpath.normpath(posixpath.join(base, href))
    parts = [p for p in path.split("/") if p not in ("..", ".")]
    while parts and parts[0] in registry.LANGS:
        parts.pop(0)
    if len(parts) < 3 or parts[0] != "tutorials":
        return False
    return "/".join(parts[2:]) in files.get(parts[1], set())


def add_download(html: str, page_url: str, files: dict[str, set[str]]) -> str:
    def replace(m: re.Match) -> str:
        before, href, rest, after = m.groups()
        if re.search(r"\bdownload\b", before + after) or not tutorial_file(href, page_url, files):
            return m.group(0)
        return f'<a{before}href="{href}{rest}"{after} download>'

    return LINK_RE.sub(replace, html)


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    if not PAGE_RE.match(page.file.src_uri):
        return html
    return add_download(html, _page_url(page, config), published_files())


# ----------------------------------------------------------------------------------------- the zips


def write_zip(folder: Path, names: list[str], source: Path, out: Path) -> None:
    """``out`` holding ``names`` (read from ``folder``, the site's copy), reproducibly; ``source`` is the docs
    folder, whose executable bits are kept."""
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(names):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            mode = 0o755 if os.access(source / name, os.X_OK) else 0o644
            info.external_attr = (0o100000 | mode) << 16
            archive.writestr(info, (folder / name).read_bytes())


def write_zips(root: Path) -> None:
    for tutorial in registry.current().values():
        folder = root / tutorial.path
        if not folder.is_dir():
            continue
        names = [n for n in tutorial.files() if (folder / n).is_file()]
        write_zip(folder, names, tutorial.folder, folder / zip_name(tutorial.slug))


@event_priority(-200)
def on_post_build(config: MkDocsConfig) -> None:
    if STATE["depth"] == 1:
        write_zips(Path(STATE["root_site_dir"]))
