"""`make verify-gpu`: run the tutorials' GPU tests on a real NVIDIA GPU and record what ran, per tutorial.

Run it on a GPU node of your cluster (or any machine with an NVIDIA GPU and its driver), from a checkout where
`make test` has made the environments:

    make verify-gpu                 # all tutorials that have GPU tests
    make verify-gpu ONLY="14 07"    # some of them

It runs ``pytest -m gpu`` (the tests marked ``@pytest.mark.gpu``: the tutorials' scripts on CUDA with the tiny
models the tests build, Tutorial 14's kernel against its reference) and Tutorial 14's ``bench.py``, then writes
``docs/tutorials/NN-slug/gpu-record.json`` for every tutorial whose GPU tests ran: the date, the GPUs and driver
as ``nvidia-smi`` reports them, the versions of the tutorial's pinned packages, the SHA-256 of each file the
tutorial publishes, and each test's outcome and output. It sets the card's ``verified.gpu`` in both pages to that
record (``--no-pages`` leaves the pages alone); the card then says "ran on <GPU> on <date>" (or how many GPU tests
failed) and links the record. When a published file changes after the run, the record's hashes
no longer match: the card says the record is for an older version, and ``tests/test_gpu_records.py`` fails until
the run is repeated or ``verified.gpu`` is set back to null.

Without a GPU it lists the GPU tests it would run and exits 2 (nothing is faked, nothing is written).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from scow_tutorials import envs
from scow_tutorials import registry as site_registry
from scow_tutorials.common import ROOT
from scow_tutorials.records import RECORD, hashed_files

MODULE_RE = re.compile(r"test_t(\d\d)_")
BENCH_TUTORIAL = 14


def tutorials() -> dict[int, site_registry.Tutorial]:
    return site_registry.discover(ROOT / "docs")


def gpus(nvidia_smi: str = "nvidia-smi") -> list[dict[str, str]]:
    """The GPUs nvidia-smi reports; [] when none answers."""
    if shutil.which(nvidia_smi) is None:
        return []
    fields = ["name", "compute_cap", "driver_version", "memory.total"]
    try:
        out = subprocess.run(
            [nvidia_smi, f"--query-gpu={','.join(fields)}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return []
    if out.returncode != 0:
        return []
    rows = [
        dict(zip(fields, (v.strip() for v in line.split(",")), strict=False))
        for line in out.stdout.splitlines()
        if line.strip()
    ]
    return [r for r in rows if len(r) == len(fields)]


def package_versions(folder: Path) -> dict[str, str]:
    """The installed version of each package the tutorial's requirements.txt pins, in its environment."""
    reqs = envs.requirements_of(folder)
    if reqs is None:
        return {}
    names = [
        re.split(r"[=<>\[ ;]", line.strip())[0]
        for line in reqs.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    python = envs.env_path(folder) / "bin" / "python"
    code = "import importlib.metadata as m, json, sys\nprint(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    out = subprocess.run([str(python), "-c", code, *names], capture_output=True, text=True, timeout=120, check=False)
    versions = json.loads(out.stdout) if out.returncode == 0 else {}
    cuda = subprocess.run(
        [str(python), "-c", "import torch; print(torch.version.cuda or '')"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if cuda.returncode == 0 and cuda.stdout.strip():
        versions["torch CUDA runtime"] = cuda.stdout.strip()
    return versions


def junit_results(path: Path) -> dict[int, list[dict[str, str]]]:
    """pytest's JUnit XML, grouped by tutorial number (from the test module's name)."""
    results: dict[int, list[dict[str, str]]] = {}
    for case in ET.parse(path).iter("testcase"):
        match = MODULE_RE.search(case.get("classname", ""))
        if not match:
            continue
        outcome, detail = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                detail = (node.get("message") or "") + "\n" + (node.text or "")
        output = "".join((case.findtext(tag) or "") for tag in ("system-out", "system-err"))
        results.setdefault(int(match.group(1)), []).append(
            {
                "test": f"{case.get('classname')}::{case.get('name')}",
                "outcome": outcome,
                "seconds": case.get("time", ""),
                "output": (output + detail).strip()[-20000:],
            }
        )
    return results


def record_for(folder: Path, tests: list[dict], hardware: list[dict], extra: dict[str, str]) -> dict:
    return {
        "schema": 1,
        "date": datetime.date.today().isoformat(),
        "command": "make verify-gpu",
        "hardware": hardware,
        "versions": package_versions(folder),
        "files": hashed_files(folder),
        "tests": tests,
        "outputs": extra,
    }


def hardware_text(hardware: list[dict]) -> str:
    names = sorted({h["name"] for h in hardware})
    count = len(hardware)
    return (f"{count} × " if count > 1 else "") + " / ".join(names) + f", driver {hardware[0]['driver_version']}"


GPU_LINE = re.compile(r"^(?P<indent>\s+)gpu:.*$", re.M)


def set_card(folder: Path, record: dict, hardware: list[dict]) -> None:
    """Point verified.gpu of both pages at the record."""
    value = f'{{date: "{record["date"]}", hardware: "{hardware_text(hardware)}", record: {RECORD}}}'
    for page in ("index.md", "index.en.md"):
        path = folder / page
        text = path.read_text(encoding="utf-8")
        head, sep, body = text.partition("\n---\n")
        new_head, count = GPU_LINE.subn(lambda m: f"{m.group('indent')}gpu: {value}", head, count=1)
        if count != 1:
            raise SystemExit(f"{path}: no 'gpu:' line under verified: in the front matter to update")
        path.write_text(new_head + sep + body, encoding="utf-8")


def run_bench(python: Path, folder: Path) -> str:
    out = subprocess.run(
        [str(python), str(folder / "bench.py")],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=dict(os.environ, TILELANG_CACHE_DIR=str(ROOT / "build" / "tilelang")),
    )
    return f"$ python bench.py  (exit {out.returncode})\n{out.stdout}{out.stderr}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=os.environ.get("ONLY", ""), help="tutorial numbers, e.g. '14 07'")
    parser.add_argument("--no-pages", action="store_true", help="write the records, leave verified.gpu alone")
    args = parser.parse_args(argv)
    wanted = {int(n) for n in args.only.replace(",", " ").split()} if args.only else None
    folders = {n: f for n, f in tutorials().items() if wanted is None or n in wanted}
    modules = [str(ROOT / "tests" / f"test_t{f.slug.replace('-', '_')}.py") for f in folders.values()]
    modules = [m for m in modules if Path(m).exists()]
    pytest = [sys.executable, "-m", "pytest", "-m", "gpu", "-p", "no:cacheprovider", *modules]

    hardware = gpus()
    if not hardware:
        listed = subprocess.run(
            pytest + ["--collect-only", "-q"], capture_output=True, text=True, cwd=ROOT, check=False
        )
        would_run = [line for line in listed.stdout.splitlines() if "::" in line]
        print(
            "verify-gpu: no NVIDIA GPU answers here (nvidia-smi lists none), so nothing was run or written.\n"
            "Run `make verify-gpu` on a GPU node. It would run these GPU tests:"
        )
        for line in would_run:
            print("  " + line)
        print(f"  and tutorial {BENCH_TUTORIAL}'s bench.py ({len(would_run)} tests).")
        return 2 if would_run else 1

    print("verify-gpu on: " + hardware_text(hardware))
    xml = ROOT / "build" / "verify-gpu.xml"
    xml.parent.mkdir(exist_ok=True)
    run = subprocess.run(pytest + ["-rA", f"--junitxml={xml}", "-o", "junit_logging=all"], cwd=ROOT, check=False)
    results = junit_results(xml) if xml.exists() else {}
    extra: dict[int, dict[str, str]] = {}
    if BENCH_TUTORIAL in folders and (folders[BENCH_TUTORIAL].folder / "bench.py").exists():
        folder = folders[BENCH_TUTORIAL].folder
        extra[BENCH_TUTORIAL] = {"bench.py": run_bench(envs.ensure_env(folder) / "bin" / "python", folder)}
        print(extra[BENCH_TUTORIAL]["bench.py"])
    for number, tests in sorted(results.items()):
        folder = folders[number].folder
        record = record_for(folder, tests, hardware, extra.get(number, {}))
        (folder / RECORD).write_text(json.dumps(record, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        if not args.no_pages:
            set_card(folder, record, hardware)  # the card says how many failed, if any
        print(
            f"tutorial {number}: {sum(t['outcome'] == 'passed' for t in tests)}/{len(tests)} GPU tests passed; "
            f"record {folder.relative_to(ROOT)}/{RECORD}"
        )
    return run.returncode


if __name__ == "__main__":
    sys.exit(main())
