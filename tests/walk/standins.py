"""Stand-ins for what cannot exist here (``tests/standins/``; each says so in its first lines and records its
arguments in the walk's ``record`` folder): ``nvidia-smi``, ``modelscope``/``hf``/``huggingface-cli download``
(copy the folder a test names for a model id), ``tmux``, ``cbatch``, ``wget``/``curl`` (the real ones, with the
declared "internet" pointed at the local server), ``pip`` (uv, as ``scow_tutorials.envs`` resolves) and Miniconda.

``conda_prefix`` is the one conda install folder of the tests: the page walk's Miniconda (``install_conda``,
``miniconda_installer``) and the Slurm fixture's (``tests/slurm_fixtures.py``) are both made by it.

    python tests/walk/standins.py PREFIX UV     # what the stand-in Miniconda installer runs
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

STANDINS = Path(__file__).resolve().parent.parent / "standins"
# Program name -> stand-in script, each a shell function in every session (in front of a real program).
TOOLS = {"nvidia-smi": "nvidia-smi", "modelscope": "model-download", "hf": "model-download",
         "huggingface-cli": "model-download", "tmux": "tmux", "cbatch": "cbatch", "wget": "fetch", "curl": "fetch"}
CONDA_SH = (STANDINS / "conda.sh").read_text(encoding="utf-8")


def install(bin_dir: Path, models: dict[str, Path] | None) -> None:
    """Copy the stand-ins into ``bin_dir``, link each program name to its script in ``bin_dir/bin``, and write
    the model table the download stand-ins read."""
    (bin_dir / "bin").mkdir(parents=True, exist_ok=True)
    for script in STANDINS.iterdir():
        shutil.copy2(script, bin_dir / script.name)
    for name, script in TOOLS.items():
        link = bin_dir / "bin" / name
        if not link.exists():
            link.symlink_to(bin_dir / script)
    with open(bin_dir / "models.tsv", "w", encoding="utf-8") as table:
        for key, folder in (models or {}).items():
            table.write(f"{key}\t{Path(folder).resolve()}\n")


def shell_functions(bin_dir: Path, fetch: bool) -> list[str]:
    """Bash lines that put every stand-in in front of the real program, exported to child processes;
    without ``fetch`` (a container image without them) wget and curl are not found."""
    lines = []
    for name in TOOLS:
        if not fetch and name in ("wget", "curl"):
            lines.append(f'{name}() {{ echo "bash: {name}: command not found" >&2; return 127; }}')
        else:
            lines.append(f'{name}() {{ "{bin_dir}/bin/{name}" "$@"; }}')
        lines.append(f"export -f {name}" if name.isidentifier() else f'export -f "{name}"')
    return lines


def conda_prefix(prefix: Path, uv: str | None = None) -> Path:
    """A Miniconda install folder as far as the tutorials use it: ``etc/profile.d/conda.sh`` (``conda
    activate NAME`` puts ``envs/NAME/bin`` first on PATH, or fails with conda's EnvironmentNameNotFound),
    ``bin/activate``, ``bin/conda``, ``bin/pip`` and ``envs/``. With ``uv`` the base is a Python environment too
    (``conda activate base`` works)."""
    if uv is not None:
        subprocess.run([uv, "venv", "-q", "--allow-existing", "--python", "/usr/bin/python3", str(prefix)],
                       check=True)
    for sub in ("etc/profile.d", "bin", "envs"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    (prefix / "etc" / "profile.d" / "conda.sh").write_text(CONDA_SH.replace("__PREFIX__", str(prefix)))
    activate = (STANDINS / "activate").read_text(encoding="utf-8")
    (prefix / "bin" / "activate").write_text(activate.replace("__PREFIX__", str(prefix)))
    shutil.copy2(STANDINS / "conda", prefix / "bin" / "conda")
    shutil.copy2(STANDINS / "pip", prefix / "bin" / "pip")
    return prefix


def install_conda(home: Path, uv: str, environments: dict[str, Path], uv_flags: list[str]) -> Path:
    """The state Tutorial 0 leaves the reader in: ``~/miniconda3``, conda's hook in ``~/.bashrc`` (base not
    activated), and one environment per name made from its requirements file. Returns the prefix."""
    prefix = conda_prefix(home / "miniconda3", uv)
    (home / ".bashrc").write_text(f'# >>> conda initialize >>>\n. "{prefix}/etc/profile.d/conda.sh"\n'
                                  "# <<< conda initialize <<<\n", encoding="utf-8")
    for name, reqs in environments.items():
        target = prefix / "envs" / name
        subprocess.run([uv, "venv", "-q", "--python", "/usr/bin/python3", str(target)], check=True)
        result = subprocess.run([uv, "pip", "install", "-q", "--python", str(target / "bin/python"),
                                 "-r", str(reqs), *uv_flags], capture_output=True, text=True, check=False)
        if result.returncode:
            raise RuntimeError(f"conda env {name} ({reqs}): {result.stdout}{result.stderr}")
        shutil.copy(STANDINS / "pip", target / "bin" / "pip")
    return prefix


def miniconda_installer(path: Path, uv: str) -> Path:
    """A STAND-IN Miniconda installer (``bash FILE -b -p PREFIX``) that makes ``conda_prefix(PREFIX)``."""
    path.write_text(
        "#!/bin/bash\n# STAND-IN Miniconda installer written by tests/walk/standins.py (batch mode only)\n"
        'prefix="$HOME/miniconda3"\nwhile [ $# -gt 0 ]; do case "$1" in -p) prefix="$2"; shift 2;; '
        "*) shift;; esac; done\n"
        f'"{sys.executable}" "{Path(__file__).resolve()}" "$prefix" "{uv}"\necho "installation finished."\n',
        encoding="utf-8")
    return path


if __name__ == "__main__":
    conda_prefix(Path(sys.argv[1]), sys.argv[2])
