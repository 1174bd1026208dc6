"""One Python environment per tutorial, as the reader builds it.

A tutorial that runs code has ``docs/tutorials/NN-slug/requirements.txt``: the exact pins the page tells the
reader to install (Tutorial 0's ``torch`` environment plus the tutorial's own packages). The tests run that
tutorial's scripts in ``.envs/NN-slug/``, a virtual environment holding exactly those pins, made with uv,
which links packages from its cache instead of copying them: the first environment with torch takes about
20 s, every further one well under a second. An environment is remade when its requirements change (the
file's SHA-256 is stamped inside it).

    python -m scow_tutorials.envs            # create or refresh every tutorial's environment
    python -m scow_tutorials.envs 02-clip    # only these tutorials

uv does not read pip's configuration. Where pip is configured with local find-links, extra indexes or a
constraint file (``pip config list``), the same settings are passed to uv, so the environments get the
packages pip would get on that machine; on a machine without them nothing extra is passed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # src/scow_tutorials/ -> the project
TUTORIALS = ROOT / "docs" / "tutorials"
ENVS = Path(os.environ.get("TUTORIAL_ENVS", ROOT / ".envs"))
STAMP = ".requirements.sha256"
# Part of every environment's stamp: change it when the way environments are made changes.
RECIPE = "uv pip install"


class EnvError(RuntimeError):
    """An environment could not be created; the message names the requirements file and uv's output."""


def requirements_of(folder: Path) -> Path | None:
    path = folder / "requirements.txt"
    return path if path.exists() else None


def uv_command() -> list[str]:
    """uv from the test environment (pinned in pyproject.toml), else from PATH."""
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("uv")
    if found:
        return [found]
    raise EnvError("uv is not installed: run `make test` (it installs the pinned uv into .venv).")


def pip_config_flags() -> list[str]:
    """pip's find-links, extra indexes and constraints on this machine, as uv flags."""
    try:
        out = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    values: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition("=")
        name = key.split(".", 1)[-1]
        values.setdefault(name, value.strip().strip("'\""))
    flags: list[str] = []
    for link in values.get("find-links", "").split():
        if Path(link).exists():
            flags += ["--find-links", link]
    extra = [
        url
        for url in values.get("extra-index-url", "").split()
        if not url.startswith("file://") or Path(url[len("file://") :]).exists()
    ]
    for url in extra:
        flags += ["--extra-index-url", url]
    if extra or "--find-links" in flags:
        flags += ["--index-strategy", "unsafe-best-match"]
    constraint = values.get("constraint", "")
    if constraint and Path(constraint).exists():
        flags += ["--constraint", constraint]
    return flags


def env_path(folder: Path) -> Path:
    return ENVS / folder.name


def ensure_env(folder: Path, quiet: bool = True) -> Path:
    """The tutorial's environment, created or refreshed from its requirements.txt; returns its prefix."""
    reqs = requirements_of(folder)
    if reqs is None:
        raise EnvError(f"{folder.relative_to(ROOT)} has no requirements.txt, so it has no environment.")
    digest = hashlib.sha256(reqs.read_bytes() + sys.version.encode() + RECIPE.encode()).hexdigest()
    prefix = env_path(folder)
    ENVS.mkdir(parents=True, exist_ok=True)
    with open(ENVS / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # several pytest processes may ask at once
        stamp = prefix / STAMP
        if stamp.exists() and stamp.read_text().strip() == digest and (prefix / "bin" / "python").exists():
            return prefix
        started = time.monotonic()
        shutil.rmtree(prefix, ignore_errors=True)
        uv = uv_command()
        env = dict(os.environ, UV_NO_PROGRESS="1", VIRTUAL_ENV="")
        steps = [
            [*uv, "venv", "--quiet", "--python", sys.executable, str(prefix)],
            # Not byte-compiled here (that costs minutes for modules no test imports): the first test that
            # imports a module writes its bytecode into the environment, and later processes reuse it.
            [*uv, "pip", "install", "--quiet", "--python", str(prefix / "bin" / "python"), "-r", str(reqs)]
            + pip_config_flags(),
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, env=env, timeout=1800, check=False)
            if result.returncode != 0:
                shutil.rmtree(prefix, ignore_errors=True)
                raise EnvError(
                    f"could not create the environment of {reqs.relative_to(ROOT)} "
                    f"({' '.join(step[:3])} ... failed):\n{result.stdout}{result.stderr}"
                )
        stamp.write_text(digest + "\n")
        if not quiet:
            print(f"{folder.name}: environment ready in {time.monotonic() - started:.1f} s ({prefix})")
        return prefix


def main(argv: list[str]) -> int:
    folders = sorted(p for p in TUTORIALS.iterdir() if requirements_of(p))
    if argv:
        folders = [p for p in folders if p.name in argv or p.name[:2] in argv]
    started = time.monotonic()
    for folder in folders:
        try:
            ensure_env(folder, quiet=False)
        except EnvError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    print(f"{len(folders)} tutorial environments ready in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
