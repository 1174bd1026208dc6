"""The downloadable forms of the site made by tools/bundle.py: the offline zip (works from file://) and the
PDFs of the whole series. tools/bundle.py runs once for this module, into a temporary folder.

Browser checks need /usr/bin/chromium, PDF checks need poppler-utils (pdfinfo, pdftotext): without them these
checks are skipped with a message, except under CI=true, where a missing tool is a failure."""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from bs4 import BeautifulSoup
from scow_tutorials.common import CHROMIUM, CHROMIUM_ARGS

from conftest import ROOT, registry, require_tool, tutorial_dirs

BUNDLE = ROOT / "tools" / "bundle.py"
ZIP_NAME = "scow-ai-tutorials-offline.zip"
CI = os.environ.get("CI", "").lower() == "true"
SCHEME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
INSTALL_HINT = "apt-get install chromium poppler-utils fonts-wqy-microhei (or `make system`)"


def missing_tool(what: str) -> None:
    require_tool(False, what, INSTALL_HINT)


def have_chromium() -> bool:
    return Path(CHROMIUM).is_file()


def have_poppler() -> bool:
    return bool(shutil.which("pdfinfo") and shutil.which("pdftotext"))


# ------------------------------------------------------------------------------------ expectations

def tutorial_slugs() -> list[str]:
    """docs/tutorials/NN-*/index.md, in number order."""
    return [d.name for d in tutorial_dirs()]


def titles(lang: str) -> dict[str, str]:
    """Front-matter titles with {{ facts.KEY }} substituted, read by the site's own hook."""
    return {t.slug: t.meta[lang]["title"] for t in registry().values()}


def test_tutorials_are_discovered():
    assert tutorial_slugs(), "no docs/tutorials/NN-*/index.md found"
    assert all(titles("zh").values()), "a tutorial has no title"


# ------------------------------------------------------------------------------------ the bundle run

@dataclass
class Bundle:
    out: Path
    returncode: int
    log: str
    pdfs: bool

    @property
    def zip(self) -> Path:
        return self.out / ZIP_NAME

    def pdf(self, lang: str) -> Path:
        return self.out / f"scow-ai-tutorials-{lang}.pdf"


@pytest.fixture(scope="module")
def bundle_run(tmp_path_factory) -> Bundle:
    out = tmp_path_factory.mktemp("bundle")
    pdfs = have_chromium() or CI  # without Chromium (locally) only the zip is made; the PDF tests skip
    cmd = [sys.executable, str(BUNDLE), "--out", str(out)] + ([] if pdfs else ["--no-pdf"])
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1", PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    return Bundle(out=out, returncode=result.returncode, log=result.stdout + result.stderr, pdfs=pdfs)


@pytest.fixture(scope="module")
def bundle(bundle_run) -> Bundle:
    if bundle_run.returncode != 0:
        pytest.fail(f"tools/bundle.py failed (exit {bundle_run.returncode}):\n" + bundle_run.log[-4000:])
    return bundle_run


@pytest.fixture(scope="module")
def archive(bundle) -> dict[str, bytes]:
    """The zip's files, by path below its single top folder."""
    with zipfile.ZipFile(bundle.zip) as zf:
        names = [n for n in zf.namelist() if not n.endswith("/")]
        tops = {n.split("/", 1)[0] for n in names}
        assert len(tops) == 1 and all("/" in n for n in names), f"expected one top folder, got {sorted(tops)[:5]}"
        return {n.split("/", 1)[1]: zf.read(n) for n in names}


@pytest.fixture(scope="module")
def unzipped(bundle, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(bundle.zip) as zf:
        zf.extractall(dst)
    (top,) = [p for p in dst.iterdir() if p.is_dir()]
    return top


def test_bundle_reports_outputs(bundle):
    assert bundle.zip.is_file(), f"{ZIP_NAME} was not written"
    assert ZIP_NAME in bundle.log and re.search(r"\d[\d,.]* (KiB|bytes)", bundle.log), \
        "bundle.py should print the paths and sizes of what it wrote:\n" + bundle.log[-2000:]


def test_bundle_fails_clearly_on_a_broken_build(tmp_path):
    """A build error makes bundle.py exit non-zero and say which step failed."""
    project = tmp_path / "project"
    shutil.copytree(ROOT / "tools", project / "tools", ignore=shutil.ignore_patterns("node_modules"))
    (project / "docs").mkdir()
    (project / "docs" / "tutorials").mkdir()
    (project / "mkdocs.yml").write_text("site_name: broken\nnav:\n  - missing.md\nstrict: true\n", encoding="utf-8")
    result = subprocess.run([sys.executable, str(project / "tools" / "bundle.py"), "--out", str(tmp_path / "out"),
                             "--no-pdf"], capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert result.returncode != 0
    assert "build" in result.stderr and "failed" in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "out" / ZIP_NAME).exists()


# ------------------------------------------------------------------------------------ the offline zip

def test_zip_is_valid(bundle):
    with zipfile.ZipFile(bundle.zip) as zf:
        assert zf.testzip() is None, "a member of the zip is corrupt"


def test_zip_has_every_page_and_the_search_index(archive):
    expected = {"index.html", "en/index.html", "search/search_index.js"}
    for slug in tutorial_slugs():
        expected |= {f"tutorials/{slug}/index.html", f"en/tutorials/{slug}/index.html"}
    missing = sorted(expected - set(archive))
    assert not missing, f"missing from the zip: {missing}"
    assert archive["search/search_index.js"].startswith(b"var __index ="), \
        "search/search_index.js is not the inlined index of the offline plugin"


def link_problems(path: str, text: str, files: set[str]) -> list[str]:
    """file://-unfriendly URLs in one HTML file of the offline site."""
    soup = BeautifulSoup(text, "html.parser")
    problems = []
    folder = posixpath.dirname(path)
    assets = [el["src"] for el in soup.select("[src]")]
    assets += [el["href"] for el in soup.select("link[href]")
               if not {"canonical", "alternate"} & set(el.get("rel", []))]
    for url in assets:
        if re.match(r"^(https?:)?//", url.strip()):
            problems.append(f"{path}: absolute asset URL {url}")
    links = [el["href"] for el in soup.select("a[href], link[rel~=alternate][href]")]
    for meta in soup.select('meta[http-equiv="refresh"]'):
        m = re.search(r"url=(.+)$", meta.get("content", ""), re.I)
        if m:
            links.append(m.group(1).strip())
    for url in links:
        if url.startswith("#") or SCHEME_RE.match(url) or url.startswith("//"):
            continue
        target = urlsplit(url).path
        if not target:
            continue
        if target.endswith("/") or not posixpath.splitext(target)[1]:
            problems.append(f"{path}: link {url} is a directory URL (file:// needs .../index.html)")
            continue
        if target.startswith("/"):
            problems.append(f"{path}: link {url} is root-absolute (file:// resolves it to the disk root)")
            continue
        resolved = posixpath.normpath(posixpath.join(folder, target))
        if resolved not in files:
            problems.append(f"{path}: link {url} points to {resolved}, which is not in the zip")
    return problems


def test_zip_links_work_from_file_urls(archive):
    files = set(archive)
    pages = [p for p in archive if p.endswith(".html")]
    problems = []
    for path in pages:
        problems += link_problems(path, archive[path].decode("utf-8"), files)
    assert len(pages) >= 2 * (len(tutorial_slugs()) + 1)
    assert not problems, "\n".join(problems[:40])


def test_link_checker_flags_bad_urls():
    html = ('<script src="https://unpkg.com/x"></script><a href="tutorials/x/">t</a>'
            '<a href="gone/index.html">g</a><a href="/abs/index.html">a</a><a href="ok/index.html">o</a><a href="https://pytorch.org/">ext</a>')
    found = link_problems("index.html", html, {"ok/index.html"})
    assert len(found) == 4, found


# ------------------------------------------------------------------------------------ browser (file://)

@pytest.fixture(scope="module")
def browser(playwright):
    if not have_chromium():
        missing_tool(CHROMIUM)
    b = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield b
    b.close()


def test_offline_catalog_link_opens_a_tutorial(unzipped, browser):
    slug = tutorial_slugs()[0]
    expected_title = titles("zh")[slug]
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto((unzipped / "index.html").as_uri(), wait_until="load")
        link = page.locator(f'article a[href="tutorials/{slug}/index.html"]').first
        assert link.count() == 1, f"the home page's catalog has no link to tutorials/{slug}/index.html"
        link.click()
        page.wait_for_url(f"**/tutorials/{slug}/index.html", timeout=10_000)
        assert page.url.startswith("file://")
        h1 = page.locator("article h1").first.inner_text()
        assert re.sub(r"\s+", "", h1) == re.sub(r"\s+", "", expected_title)
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        page.close()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_offline_search_finds_a_tutorial(unzipped, browser, lang):
    """Search works from file:// (search/search_index.js and the local Web Worker shim)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # A proper noun from a title (Python, PyTorch...): the check is about search running from file://,
    # so the query avoids words that depend on stemming.
    words = [w for t in titles(lang).values() for w in re.findall(r"\b[A-Z][A-Za-z]{3,}\b", t) if w != "Tutorial"]
    query = max(words or ["SCOW"], key=len)
    home = unzipped / "index.html" if lang == "zh" else unzipped / "en" / "index.html"
    page = browser.new_page(viewport={"width": 1280, "height": 800})  # desktop: the search field is in the header
    errors = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(home.as_uri(), wait_until="load")
        field = page.locator("input.md-search__input")
        field.click()
        results = page.locator(".md-search-result__item")
        for _ in range(10):  # the index loads when search opens; a query typed before it is ready is dropped
            field.fill("")
            page.keyboard.press("End")
            field.fill(query)
            page.keyboard.press("End")  # Material searches on keyup
            try:
                results.first.wait_for(timeout=1_500)
                break
            except PlaywrightTimeout:
                continue
        assert results.count() > 0, f"search for {query!r} shows no results from file://"
        hrefs = [a.get_attribute("href") or "" for a in page.locator(".md-search-result__item a").all()]
        assert any("tutorials/" in h for h in hrefs), f"search for {query!r} found no tutorial: {hrefs}"
        assert not errors, f"JavaScript errors: {errors}"
    finally:
        page.close()


# ------------------------------------------------------------------------------------ PDFs

@pytest.fixture(scope="module")
def poppler():
    if not have_poppler():
        missing_tool("poppler-utils (pdfinfo, pdftotext)")


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_pdf_has_every_tutorial(bundle, poppler, lang):
    if not bundle.pdfs:
        missing_tool(CHROMIUM)
    pdf = bundle.pdf(lang)
    assert pdf.is_file(), f"{pdf.name} was not written"
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, timeout=60)
    assert info.returncode == 0, f"pdfinfo cannot read {pdf.name}: {info.stderr}"
    pages = int(re.search(r"^Pages:\s+(\d+)", info.stdout, re.M).group(1))
    assert pages > len(tutorial_slugs()), f"{pdf.name} has only {pages} pages"
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          timeout=60).stdout
    flat = squash(text)
    missing = [t for t in titles(lang).values() if squash(t) not in flat]
    assert not missing, f"{pdf.name} lacks the tutorials {missing}"
    if lang == "zh":
        # the CJK font rendered: a Chinese title came out as Chinese text, not as missing glyphs
        assert re.search(r"[\u4e00-\u9fff]", text), "no Chinese text in the Chinese PDF"
