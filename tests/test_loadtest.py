"""tools/loadtest.py: the bounded load run on loopback through the shipped nginx recipe, on a tiny site."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import load_file, require_tool
from scow_tutorials import nginx, safety


@pytest.fixture
def tiny_site(tmp_path):
    site = tmp_path / "site"
    for rel in ("index.html", "tutorials/01-house-prices/index.html", "search/search_index.json", "404.html"):
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("<p>tiny</p>\n" * 200, encoding="utf-8")
    safety.precompress(site)
    safety.write_headers_include(site, "'none'")
    return site


def test_load_run_prints_both_modes(tiny_site, tmp_path, capsys):
    require_tool(nginx.binary() is not None, "nginx", "sudo apt-get install nginx")
    loadtest = load_file("tools/loadtest.py")
    out = tmp_path / "loadtest.json"
    args = ["--seconds", "1", "--connections", "4", "--site", str(tiny_site), "--out", str(out)]
    # In a thread of its own: a Playwright test that ran before in this worker leaves an event loop running here.
    with ThreadPoolExecutor(1) as pool:
        assert pool.submit(loadtest.main, args).result() == 0
    printed = capsys.readouterr().out
    assert "req/s" in printed and "p99 ms" in printed and "gzip_static on" in printed and "gzip_static off" in printed
    results = json.loads(out.read_text(encoding="utf-8"))["results"]
    assert len(results) == 2
    for rows in results.values():
        assert set(rows) == {"home", "tutorial", "search index"}
        for row in rows.values():
            assert row["requests"] > 0 and row["errors"] == 0 and row["p99_ms"] > 0, row


def test_load_run_is_bounded():
    loadtest = load_file("tools/loadtest.py")
    with pytest.raises(SystemExit):
        loadtest.main(["--seconds", "3600"])
