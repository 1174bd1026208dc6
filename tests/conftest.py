"""Shared fixtures: one strict build of the whole site per test session, and throw-away builds of a
modified copy for the tests that check how the build fails."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))  # tools/chromium.py: how tests and tools start Chromium
DOCS = ROOT / "docs"
LANGS = ("zh", "en")


def load_hook():
    """The site's build hook as a module, to call its validator directly."""
    spec = importlib.util.spec_from_file_location("site_hook", ROOT / "overrides/hooks/tutorials.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(NO_MKDOCS_2_WARNING="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(extra)
    return env


def run_build(project: Path, site: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--clean", "-f", str(project / "mkdocs.yml"),
         "-d", str(site)],
        cwd=project, env=build_env(**env), capture_output=True, text=True, timeout=600,
    )


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
    result = run_build(ROOT, site)
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
    for name in ("docs", "overrides"):
        shutil.copytree(ROOT / name, dst / name, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def tutorial_dirs() -> list[Path]:
    return sorted(p for p in (DOCS / "tutorials").iterdir() if p.is_dir() and (p / "index.md").exists())


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
