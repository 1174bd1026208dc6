"""Shared fixtures: one strict build of the whole site per test session, and throw-away builds of a
modified copy for the tests that check how the build fails."""

from __future__ import annotations

import importlib.util
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from scow_tutorials import common
from scow_tutorials import registry as site_registry
from scow_tutorials.common import mkdocs_build

ROOT = common.ROOT
pytest_plugins = ["tutorial_fixtures", "slurm_fixtures", "walk.fixture"]  # see each module's docstring

SITE_URL = common.DEFAULT_SITE_URL  # the address every test build is made for

DOCS = ROOT / "docs"
LANGS = ("zh", "en")


def load_config_for_tests():
    """mkdocs.yml as MkDocs reads it (facts, sections), for tests that call the hooks' modules directly."""
    from mkdocs.config import load_config

    return load_config(str(ROOT / "mkdocs.yml"))


def registry():
    """The tutorial registry exactly as the build makes it (scow_tutorials.registry)."""
    return site_registry.load(load_config_for_tests())


def load_file(rel: str):
    """A script of the project that is not part of the package (a tool, a hook) as a module, by its path."""
    spec = importlib.util.spec_from_file_location(Path(rel).stem, ROOT / rel)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_tool(ok: bool, what: str, install: str) -> None:
    """Skip with an install hint when a system tool is missing; under CI=true that is a failure."""
    if ok:
        return
    message = f"{what} is missing: {install}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: these tests must run)", pytrace=False)
    pytest.skip(message)


@dataclass
class Build:
    site: Path
    log: str
    returncode: int

    def page(self, lang: str, path: str) -> Path:
        """Built HTML file of a docs-relative page URL ('' for the home page)."""
        base = self.site if lang == "zh" else self.site / "en"
        return base / path / "index.html"

    def html_files(self) -> list[Path]:
        return sorted(self.site.rglob("*.html"))


@pytest.fixture(scope="session")
def build(tmp_path_factory) -> Build:
    site = tmp_path_factory.mktemp("site")
    result = mkdocs_build(site)
    return Build(site=site, log=result.stdout + result.stderr, returncode=result.returncode)


@pytest.fixture(scope="session")
def built(build) -> Build:
    """The site, for tests that need a successful build."""
    if build.returncode != 0:
        pytest.fail("mkdocs build --strict failed:\n" + build.log[-4000:])
    return build


@pytest.fixture
def project_copy(tmp_path) -> Path:
    """A copy of the project's sources that a test may break on purpose."""
    dst = tmp_path / "project"
    dst.mkdir()
    shutil.copy2(ROOT / "mkdocs.yml", dst / "mkdocs.yml")
    for name in ("docs", "overrides", "src"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def tutorial_dirs() -> list[Path]:
    """The tutorial folders, as the site's registry defines them (scow_tutorials.registry)."""
    return [t.folder for t in site_registry.discover(DOCS).values()]


def zh_pages() -> list[Path]:
    return sorted(p for p in DOCS.rglob("*.md") if not p.name.endswith(".en.md"))


def en_twin(zh: Path) -> Path:
    return zh.with_name(zh.stem + ".en.md")


def page_url(md: Path) -> str:
    """Directory URL of a page, relative to the language root."""
    rel = md.relative_to(DOCS).as_posix()
    rel = rel[: -len(".en.md")] if rel.endswith(".en.md") else rel[: -len(".md")]
    if rel == "index":
        return ""
    return rel[: -len("/index")] if rel.endswith("/index") else rel


@pytest.fixture(scope="session")
def playwright():
    """One Playwright driver for the whole session: the sync API cannot run two at once in one process."""
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    yield pw
    pw.stop()


# ------------------------------------------------------------------------------- parallel runs (pytest-xdist)
# `make test` runs `pytest -n auto --dist loadgroup`: each test goes to whichever worker is free, except that
# the tests sharing one heavy session fixture run on one worker, one after the other, so that it is made once:
# the built site, nginx and the crawl of every page in Chromium (tests/browser/), the offline bundles
# (test_bundles.py). Slurm needs no group: each worker starts its own private cluster (slurm_fixtures.py).
def xdist_group(item) -> str | None:
    path = Path(str(item.path))
    if path.parent.name == "browser":
        return "browser"
    if path.name == "test_bundles.py":
        return "bundles"
    return None


def tag_group(item, group: str) -> None:
    """The group in the test's id (``…@group``), which is what xdist's loadgroup scheduler reads. xdist 3.8 writes
    ``item._nodeid``, which pytest 9.2 no longer reads (the id is ``item._id``), so without this every group was
    spread over the workers and each worker built the site and crawled every page."""
    if "@" in item.nodeid.rpartition("]")[2] or not hasattr(item, "_id"):
        return  # xdist tagged it (or an older pytest, where xdist's own tag works)
    from _pytest.nodeid import NodeId

    item._id = NodeId.parse(f"{item.nodeid}@{group}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    loadgroup = getattr(config.option, "loadgroup", False)  # set on xdist workers under --dist loadgroup
    for item in items:
        group = xdist_group(item)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
            if loadgroup:
                tag_group(item, group)
    if hasattr(config, "workerinput"):  # an xdist worker: the page walks, the slowest tests, are handed out first
        items.sort(key=lambda item: item.originalname != "test_page_walk")
