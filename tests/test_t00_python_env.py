"""Tutorial 0 (Python environment): the Miniconda installer script and the environment check.

install_miniconda.sh runs against a local HTTP server that serves a fake installer and a fake copy of
the official checksum listing, so no test touches the network or the real $HOME. check_env.py runs
with this interpreter, which has the pinned torch / torchvision installed.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

FOLDER = Path(__file__).resolve().parents[1] / "docs" / "tutorials" / "00-python-env"
SCRIPT = FOLDER / "install_miniconda.sh"
CHECK = FOLDER / "check_env.py"
REQUIREMENTS = FOLDER / "requirements.txt"
INSTALLER = "Miniconda3-py313_25.9.1-1-Linux-x86_64.sh"
WRONG = "0123456789abcdef" * 4

# A stand-in for the real installer: in batch mode (-b -p PREFIX) it creates PREFIX/bin/conda and
# records that it ran, so a test can tell whether the script executed it.
FAKE_INSTALLER = """#!/bin/bash
set -eu
prefix=""
while [ $# -gt 0 ]; do
  case "$1" in
    -p) prefix="$2"; shift 2 ;;
    *) shift ;;
  esac
done
touch "$FAKE_MARKER"
mkdir -p "$prefix/bin"
printf '#!/bin/sh\\necho conda 25.9.1\\n' > "$prefix/bin/conda"
chmod +x "$prefix/bin/conda"
echo "fake installer done"
"""


def listing(rows: dict[str, str], one_line: bool = False) -> str:
    """A checksum listing in the format of https://repo.anaconda.com/miniconda/ (one <tr> per file)."""
    out = [
        "<html><head><title>Miniconda installers</title></head><body>",
        "<table>",
        "  <tr><th>Filename</th><th>Size</th><th>Last Modified</th><th>SHA256</th></tr>",
    ]
    for name, sha in rows.items():
        cells = [
            f'<td><a href="{name}">{name}</a></td>',
            '<td class="s">155.0M</td>',
            "<td>2025-10-07 17:44:13</td>",
            f"<td>{sha}</td>",
        ]
        if one_line:
            out.append("  <tr>" + "".join(cells) + "</tr>")
        else:
            out += ["  <tr>", *[f"    {c}" for c in cells], "  </tr>"]
    out += ["</table>", "</body></html>"]
    return "\n".join(out) + "\n"


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest output clean
        pass


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 at a random port; yield (www folder, base URL)."""
    www = tmp_path / "www"
    (www / "mirror").mkdir(parents=True)
    (www / "official").mkdir()
    handler = functools.partial(Quiet, directory=str(www))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def site(server, tmp_path):
    """The fake installer on the 'mirror' and its real SHA-256; the caller writes the listing."""
    www, url = server
    installer = www / "mirror" / INSTALLER
    installer.write_text(FAKE_INSTALLER)
    sha = hashlib.sha256(installer.read_bytes()).hexdigest()
    home = tmp_path / "home"
    home.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return {"www": www, "url": url, "sha": sha, "home": home, "scratch": scratch, "marker": tmp_path / "ran"}


def run_installer(site, *args, path=None, **extra):
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in {"http_proxy", "https_proxy", "all_proxy"} and not key.startswith("MINICONDA_")
    }
    env.update(
        HOME=str(site["home"]),
        TMPDIR=str(site["scratch"]),
        NO_PROXY="127.0.0.1,localhost",
        no_proxy="127.0.0.1,localhost",
        MINICONDA_BASE_URL=f"{site['url']}/mirror/",
        MINICONDA_INDEX_URL=f"{site['url']}/official/",
        FAKE_MARKER=str(site["marker"]),
    )
    if path is not None:
        env["PATH"] = path
    env.update(extra)
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def write_listing(site, rows, one_line=False):
    (site["www"] / "official" / "index.html").write_text(listing(rows, one_line))


def path_without(tmp_path: Path, tool: str) -> str:
    """A PATH holding links to every command of the usual bin folders except ``tool``."""
    bin_dir = tmp_path / f"bin-without-{tool}"
    bin_dir.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not folder or not Path(folder).is_dir():
            continue
        for entry in Path(folder).iterdir():
            link = bin_dir / entry.name
            if entry.name != tool and not link.exists() and os.access(entry, os.X_OK) and entry.is_file():
                link.symlink_to(entry)
    return str(bin_dir)


# ------------------------------------------------------------------------------ install_miniconda.sh
# bash -n and shellcheck of every published script: tests/test_code.py
@pytest.mark.parametrize("tool", ["wget", "curl"])
@pytest.mark.parametrize("one_line", [False, True], ids=["multi-line-rows", "one-line-rows"])
def test_correct_hash_installs(site, tmp_path, tool, one_line):
    other = "wget" if tool == "curl" else "curl"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    # Decoy rows around the right one: the script must take the hash from the installer's own row.
    write_listing(
        site,
        {
            "Miniconda3-latest-Linux-x86_64.sh": "a" * 64,
            INSTALLER: site["sha"],
            INSTALLER.replace("x86_64", "aarch64"): "b" * 64,
        },
        one_line,
    )
    prefix = site["home"] / "miniconda3"
    result = run_installer(site, path=path_without(tmp_path, other))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert (prefix / "bin" / "conda").is_file(), out
    assert site["marker"].exists()
    assert site["sha"] in out and "SHA-256 OK" in out
    assert f'source "{prefix}/bin/activate"' in out
    assert list(site["scratch"].iterdir()) == [], "the download must be cleaned up"


def test_wrong_hash_refuses_and_deletes_the_download(site):
    # The file's real hash sits in another file's row: taking "any hash on the page" would be a bug.
    write_listing(site, {"Miniconda3-latest-Linux-x86_64.sh": site["sha"], INSTALLER: WRONG})
    result = run_installer(site)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SHA-256 mismatch" in out
    assert f"expected: {WRONG}" in out and f"actual:   {site['sha']}" in out
    assert not (site["home"] / "miniconda3").exists()
    assert not site["marker"].exists(), "the installer must not run"
    assert list(site["scratch"].iterdir()) == [], "the bad download must be deleted"


def test_no_published_hash_stops_before_download(site):
    write_listing(site, {"Miniconda3-latest-Linux-x86_64.sh": site["sha"]})
    result = run_installer(site)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"No SHA-256 for {INSTALLER}" in out and "MINICONDA_SHA256" in out
    assert not (site["home"] / "miniconda3").exists()
    assert not site["marker"].exists()


def test_env_override_wins_over_the_listing(site):
    # The listing is wrong and then unreachable: MINICONDA_SHA256 alone decides.
    write_listing(site, {INSTALLER: WRONG})
    result = run_installer(site, MINICONDA_SHA256=site["sha"].upper())
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site["home"] / "miniconda3" / "bin" / "conda").is_file()

    target = site["home"] / "other-prefix"
    result = run_installer(
        site, str(target), MINICONDA_SHA256=site["sha"], MINICONDA_INDEX_URL=f"{site['url']}/missing/"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "bin" / "conda").is_file()


def test_env_override_with_wrong_hash_fails(site):
    write_listing(site, {INSTALLER: site["sha"]})
    result = run_installer(site, MINICONDA_SHA256=WRONG)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SHA-256 mismatch" in out and WRONG in out
    assert not site["marker"].exists()
    assert not (site["home"] / "miniconda3").exists()


def test_existing_prefix_is_left_alone(site):
    write_listing(site, {INSTALLER: site["sha"]})
    prefix = site["home"] / "miniconda3"
    prefix.mkdir()
    (prefix / "keep.txt").write_text("mine")
    result = run_installer(site)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "already exists" in out
    assert not site["marker"].exists()
    assert sorted(p.name for p in prefix.iterdir()) == ["keep.txt"]


# -------------------------------------------------------------------------------------- check_env.py
def run_check(tmp_path, *args):
    env = dict(os.environ, HOME=str(tmp_path))
    env.pop("CONDA_DEFAULT_ENV", None)
    return subprocess.run(
        [sys.executable, str(CHECK), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_requirements_pin_the_tested_versions():
    lines = [line.strip() for line in REQUIREMENTS.read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    assert pins == ["torch==2.14.1", "torchvision==0.29.1"]


def test_check_env_passes_with_the_pinned_versions(tmp_path):
    result = run_check(tmp_path)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "ENVIRONMENT OK" in out
    assert "OK             : torch==2.14.1" in out
    assert "OK             : torchvision==0.29.1" in out
    assert f"({sys.executable})" in out
    assert "torch CUDA     :" in out and "GPU count      :" in out
    assert "Conda env      : none" in out


def test_check_env_reports_mismatch_and_missing(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("torch==2.13.0\ntorchvision==0.29.1\nnot-a-real-package-t00==1.0\n")
    result = run_check(tmp_path, "--requirements", str(req))
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "CHECK FAILED" in out and "ENVIRONMENT OK" not in out
    assert "torch: requirements.txt pins 2.13.0, but 2.14.1 is installed" in out
    assert "not-a-real-package-t00 is not installed" in out
    assert f"pip install -r {req}" in out

    # --no-compare only reports: the same file no longer fails the check.
    result = run_check(tmp_path, "--requirements", str(req), "--no-compare")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ENVIRONMENT OK" in result.stdout


def test_check_env_helpers():
    import importlib.util

    spec = importlib.util.spec_from_file_location("t00_check_env", CHECK)
    module = importlib.util.module_from_spec(spec)
    saved, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no __pycache__ in docs/ (published)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = saved
    assert module.version_matches("2.14.1", "2.14.1+cu126")  # a wheel from download.pytorch.org
    assert module.version_matches("2.14.1", "2.14.1")
    assert not module.version_matches("2.14.1", "2.14.10")
    assert not module.version_matches("2.14.1+cu126", "2.14.1+cu130")
    assert module.as_tuple("13.0") > module.as_tuple("12.8")
    assert module.as_tuple("12.10") > module.as_tuple("12.9")
