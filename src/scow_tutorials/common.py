"""What the tools (bundle.py, benchmark.py) and the tests share: how to build the site, which tutorials a
build holds, and how to start Debian's Chromium."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # src/scow_tutorials/ -> the project

CHROMIUM = "/usr/bin/chromium"
# Headless, sandbox off (root in CI), and unable to reach anything but this machine: without the resolver
# rule Chromium looks up Google hosts even with the background-networking flags.
RESOLVER_RULES = "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    f"--host-resolver-rules={RESOLVER_RULES}",
]
# The address a build gets unless SITE_URL says otherwise (mkdocs.yml's default).
DEFAULT_SITE_URL = "http://127.0.0.1:8000/"


def mkdocs_build(site: Path, project: Path = ROOT, **env: str) -> subprocess.CompletedProcess:
    """`mkdocs build --strict` of *project* into *site*. SITE_URL and OFFLINE_BUILD are always set, so a
    value left in the caller's environment cannot change what is built."""
    # PYTHONPATH: the hooks import scow_tutorials from the project built (a test's modified copy included).
    full_env = dict(
        os.environ,
        NO_MKDOCS_2_WARNING="1",
        PYTHONDONTWRITEBYTECODE="1",
        SITE_URL=DEFAULT_SITE_URL,
        OFFLINE_BUILD="false",
        PYTHONPATH=str(project / "src"),
    )
    full_env.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mkdocs",
            "build",
            "--strict",
            "--clean",
            "-f",
            str(project / "mkdocs.yml"),
            "-d",
            str(site),
        ],
        check=False,
        cwd=project,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def built_tutorials(site: Path) -> list[dict]:
    """The tutorials of a build, in number order, from the catalog the build publishes (tutorials.json)."""
    return json.loads((site / "tutorials.json").read_text(encoding="utf-8"))["tutorials"]
