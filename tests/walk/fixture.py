"""The page walk's fixtures (loaded by tests/conftest.py as a pytest plugin): ``page_walk`` makes walks of the
module's tutorial; the suite ends with a table of blocks run and not run per tutorial and language."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import require_tool
from walk.run import SUMMARY, Walk, comparable, page_blocks
from walk.server import SiteServer


@pytest.fixture(scope="session")
def walk_server(built, tmp_path_factory):
    server = SiteServer(built.site, tmp_path_factory.mktemp("walk-site"))
    yield server
    server.close()


@pytest.fixture
def page_walk(tutorial, tmp_path, walk_server):
    """``page_walk(lang="zh", page=None, **options)`` -> a ``Walk``; ``page_walk.same_blocks("en")`` checks
    that the English page has the Chinese page's blocks, markers and commands (comments aside)."""
    if shutil.which("bwrap") is None:
        require_tool(False, "bubblewrap (bwrap) for the page walk", "apt-get install bubblewrap (make test does)")
    made: list[Walk] = []

    def make(lang: str = "zh", page: Path | None = None, **options) -> Walk:
        walk = Walk(tutorial, Path(page or tutorial.page(lang)), lang, tmp_path / f"walk-{lang}-{len(made)}",
                    walk_server, **options)
        made.append(walk)
        return walk

    def same_blocks(lang: str = "en", typed: dict[str, dict[str, str]] | None = None) -> None:
        zh, other = page_blocks(tutorial.page("zh")), page_blocks(tutorial.page(lang))
        typed = typed or {}
        assert [b.spec for b in other] == [b.spec for b in zh], f"{tutorial.slug}: the run markers differ"
        for a, b in zip(zh, other, strict=True):
            assert comparable(b.code, typed.get(lang, {})) == comparable(a.code, typed.get("zh", {})), (
                f"{tutorial.slug}: block at zh line {a.line} / {lang} line {b.line} differs:\n{a.code}\n---\n{b.code}")

    make.same_blocks = same_blocks  # type: ignore[attr-defined]
    yield make


def pytest_sessionfinish(session):
    """On a pytest-xdist worker: hand this worker's rows to the controller, which prints the table."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["page_walk_summary"] = json.dumps(SUMMARY)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    SUMMARY.extend(tuple(row) for row in json.loads(getattr(node, "workeroutput", {}).get("page_walk_summary", "[]")))


def pytest_terminal_summary(terminalreporter):
    if not SUMMARY:
        return
    terminalreporter.section("page walk: shell blocks run / not run")
    for name, lang, ran, reasons in sorted(SUMMARY):
        why = "; ".join(sorted(set(reasons)))
        terminalreporter.write_line(f"{name} {lang}: {ran} run, {len(reasons)} not run" + (f" ({why})" if why else ""))
