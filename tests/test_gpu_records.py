"""GPU run records (``make verify-gpu``, tools/verify_gpu.py): what a card claims about a GPU comes from a record
whose files still match, and the command works up to the GPU-only steps on a machine without a GPU."""

from __future__ import annotations

import json
import re
from html import unescape
import subprocess
import sys

import pytest

from scow_tutorials import records as site_records
from conftest import ROOT, mkdocs_build, registry
from tutorial_fixtures import gpu_present

from conftest import load_file

verify_gpu = load_file("tools/verify_gpu.py")

# The tutorials whose scripts must have GPU tests (the GPU issue): environment check, training, inference, kernel.
NEEDS_GPU_TESTS = (0, 1, 2, 3, 6, 7, 8, 14)


def test_every_gpu_claim_has_a_record_whose_files_still_match():
    for number, tutorial in registry().items():
        gpu = tutorial.card["zh"]["verified"]["gpu"]
        if gpu is None:
            continue
        record = site_records.read_record(tutorial.folder / gpu["record"])
        stale = site_records.stale_files(tutorial.folder, record)
        assert not stale, (f"{tutorial.slug}: {gpu['record']} was recorded for other versions of {stale}; run "
                           "`make verify-gpu` on a GPU again, or set verified.gpu back to null in both pages")


@pytest.mark.skipif(gpu_present() is None, reason="a GPU is here: make verify-gpu runs for real")
def test_verify_gpu_without_a_gpu_lists_the_gpu_tests_and_writes_nothing():
    before = {p: p.stat().st_mtime for p in (ROOT / "docs").rglob("*.md")}
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "verify_gpu.py")], capture_output=True, text=True,
                            cwd=ROOT, timeout=600)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "no NVIDIA GPU answers here" in result.stdout
    listed = [line.strip() for line in result.stdout.splitlines() if "::" in line]
    have = {int(m.group(1)) for line in listed if (m := re.search(r"test_t(\d\d)_", line))}
    assert set(NEEDS_GPU_TESTS) <= have, f"tutorials without GPU tests: {sorted(set(NEEDS_GPU_TESTS) - have)}"
    assert not list((ROOT / "docs").rglob(site_records.RECORD)) or all(
        p.stat().st_mtime == before.get(p, p.stat().st_mtime) for p in before)


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="tests.test_t05_datasets" name="test_on_cuda" time="1.5"><system-out>Device: cuda</system-out></testcase>
<testcase classname="tests.test_t05_datasets" name="test_bf16" time="0.5"><failure message="assert False">trace</failure></testcase>
</testsuite></testsuites>"""


def test_a_record_drives_the_card_and_goes_stale_when_a_file_changes(project_copy, tmp_path):
    folder = project_copy / "docs" / "tutorials" / "05-datasets"
    xml = tmp_path / "gpu.xml"
    xml.write_text(JUNIT, encoding="utf-8")
    tests = verify_gpu.junit_results(xml)[5]
    assert [t["outcome"] for t in tests] == ["passed", "failed"] and "Device: cuda" in tests[0]["output"]
    hardware = [{"name": "NVIDIA H200", "compute_cap": "9.0", "driver_version": "570.124.06",
                 "memory.total": "143771 MiB"}]
    record = verify_gpu.record_for(folder, tests[:1], hardware, {})
    (folder / site_records.RECORD).write_text(json.dumps(record), encoding="utf-8")
    verify_gpu.set_card(folder, record, hardware)
    assert "record: gpu-record.json" in (folder / "index.en.md").read_text(encoding="utf-8")

    def card(lang):
        site = tmp_path / f"site-{lang}-{len(list(tmp_path.iterdir()))}"
        result = mkdocs_build(site, project_copy)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
        base = site if lang == "zh" else site / "en"
        html = (base / "tutorials" / "05-datasets" / "index.html").read_text(encoding="utf-8")
        found = re.search(r'data-field="verified">(.*?)</dd>', html, re.S).group(1)
        return re.sub(r"\s+", " ", unescape(found))  # the card escapes its fields (an apostrophe reads &#39;)

    line = card("en")
    assert "Ran on NVIDIA H200, driver 570.124.06 on" in line and '05-datasets/gpu-record.json">' in line
    script = folder / "fill_names.sh"
    script.write_text(script.read_text(encoding="utf-8") + "\n# changed after the run\n", encoding="utf-8")
    assert site_records.stale_files(folder, record) == ["fill_names.sh"]
    assert "An older version of this page's files ran on NVIDIA H200" in card("en")
    assert "旧版本" in card("zh")
