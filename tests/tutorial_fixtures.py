"""What every tutorial test module shares (loaded by conftest.py as a pytest plugin).

A tutorial's tests live in ``tests/test_tNN_slug.py`` for ``docs/tutorials/NN-slug/``; the fixtures find the
folder from the module's name, so a module never builds paths by hand:

* ``tutorial``: the tutorial (``number``, ``slug``, ``folder``, ``env``: its virtual environment, created
  from the folder's ``requirements.txt`` by ``tools/envs.py`` on first use);
* ``workdir``: a fresh folder holding a copy of every file the tutorial publishes, as a reader who
  downloaded them all has it;
* ``run_script(name, *args, ...)``: runs a published file (``train.py``, ``job.sh``) or a program of the
  tutorial's environment (``torchrun``, ``llamafactory-cli``) the way a reader would, in ``workdir``, with an
  isolated ``HOME`` and caches, ``HF_HUB_OFFLINE=1``, no GPU, no proxy and a timeout; returns the finished
  process (``stdout``, ``stderr``, ``output`` = both, ``returncode``).

A test module must name each script and config it runs as a string literal in a ``run_script(...)`` call:
``tests/test_tutorial_model.py`` reads those calls to check that every published script or config runs in
some test, and that the card's verification line says exactly that.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scow_tutorials import registry as site_registry
from scow_tutorials.common import ROOT
from scow_tutorials.registry import Tutorial  # the one model of a tutorial

MODULE_RE = re.compile(r"^test_t(\d\d)_([a-z0-9_]+)$")
# Published files a test must run (scripts and configs); data, images and requirements need not.
EXECUTABLE_SUFFIXES = {".py", ".sh", ".yaml", ".yml"}


def module_name(folder: Path) -> str:
    """``docs/tutorials/02-clip-classification`` -> ``test_t02_clip_classification``."""
    return "test_t" + folder.name.replace("-", "_")


def published_files(folder: Path) -> list[Path]:
    """Every file a tutorial publishes for download (site_registry.Tutorial.files)."""
    return [folder / name for name in Tutorial(0, folder).files()]


@pytest.fixture(scope="module")
def tutorial(request) -> Tutorial:
    name = request.module.__name__.rpartition(".")[2]
    match = MODULE_RE.match(name)
    if not match:
        pytest.fail(f"{name}: the 'tutorial' fixture is for modules named test_tNN_slug.py", pytrace=False)
    found = site_registry.discover(ROOT / "docs").get(int(match.group(1)))
    if found is None or module_name(found.folder) != name:
        pytest.fail(f"{name}.py matches no tutorial folder docs/tutorials/NN-slug/ (rename one of them so "
                    f"that the module is test_t + the folder name with '-' as '_')", pytrace=False)
    return found


@pytest.fixture
def workdir(tutorial, tmp_path) -> Path:
    """A reader's folder: a copy of every published file of the tutorial."""
    work = tmp_path / "work"
    for rel in tutorial.files():
        dst = work / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tutorial.folder / rel, dst)
    work.mkdir(exist_ok=True)
    return work


def isolated_env(home: Path, env_bin: Path | None, extra: dict[str, str] | None,
                 gpu: bool = False) -> dict[str, str]:
    """A reader's shell on a compute node: own HOME, caches inside it, offline, no GPU (unless ``gpu``:
    then the machine's GPUs stay visible, for tests marked ``gpu``), no proxy."""
    keep = {k: v for k, v in os.environ.items()
            if k in {"PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "SLURM_CONF", "CI", "USER", "LOGNAME"}}
    env = dict(
        keep,
        HOME=str(home),
        XDG_CACHE_HOME=str(home / ".cache"),
        MPLCONFIGDIR=str(home / ".config" / "matplotlib"),
        MPLBACKEND="Agg",
        HF_HOME=str(home / ".cache" / "huggingface"),
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MODELSCOPE_CACHE=str(home / ".cache" / "modelscope"),
        TORCH_HOME=str(home / ".cache" / "torch"),
        TILELANG_CACHE_DIR=str(home / ".cache" / "tilelang"),
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="2",
        TOKENIZERS_PARALLELISM="false",
        DO_NOT_TRACK="1",
    )
    if gpu:
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
    else:
        env["CUDA_VISIBLE_DEVICES"] = ""
    if env_bin is not None:
        env["PATH"] = f"{env_bin}:{env.get('PATH', '/usr/bin:/bin')}"
        env["VIRTUAL_ENV"] = str(env_bin.parent)
    env.update(extra or {})
    return env


class Finished(subprocess.CompletedProcess):
    @property
    def output(self) -> str:
        return (self.stdout or "") + (self.stderr or "")


@pytest.fixture
def run_script(tutorial, workdir, tmp_path):
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def run(name: str, *args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            input: str | None = None, timeout: float = 600, check: bool = True, gpu: bool = False) -> Finished:
        """Run a published file or an environment's program as a reader would; see the module docstring.

        ``check=True`` fails the test with the program's output when it exits non-zero; ``gpu=True`` keeps the
        machine's GPUs visible (only in tests marked ``@pytest.mark.gpu``)."""
        cwd = Path(cwd or workdir)
        has_env = (tutorial.folder / "requirements.txt").exists()
        env_bin = tutorial.env / "bin" if has_env else None
        python = str(env_bin / "python") if env_bin else sys.executable
        local = cwd / name
        if local.suffix == ".py" and local.exists():
            command = [python, str(local)]
        elif local.suffix == ".sh" and local.exists():
            command = ["bash", str(local)]
        elif env_bin is not None and (env_bin / name).exists():
            command = [str(env_bin / name)]
        elif shutil.which(name):
            command = [name]
        else:
            pytest.fail(f"run_script: {name!r} is neither a file in {cwd} nor a program of the tutorial's "
                        f"environment", pytrace=False)
        run_env = isolated_env(home, env_bin, env, gpu)
        if local.suffix == ".py" and local.exists() and local.parent != cwd:
            # A test's helper script (tests/fixtures/) imports the reader's files from the folder it runs in.
            run_env.setdefault("PYTHONPATH", str(cwd))
        try:
            result = subprocess.run(command + [str(a) for a in args], cwd=cwd, input=input, text=True,
                                    capture_output=True, timeout=timeout, check=False, env=run_env)
        except subprocess.TimeoutExpired as exc:
            pytest.fail(f"{name} {' '.join(map(str, args))} ran longer than {timeout} s:\n"
                        f"{exc.stdout or ''}{exc.stderr or ''}", pytrace=False)
        finished = Finished(result.args, result.returncode, result.stdout, result.stderr)
        if check and result.returncode != 0:
            pytest.fail(f"{name} {' '.join(map(str, args))} exited {result.returncode}:\n"
                        f"{finished.output[-6000:]}", pytrace=False)
        return finished

    run.home = home
    return run


@functools.cache
def site_config():
    """mkdocs.yml as MkDocs reads it, loaded once per session (read it, never change it)."""
    from mkdocs.config import load_config

    return load_config(str(ROOT / "mkdocs.yml"))


def facts() -> dict:
    """``extra.facts`` of mkdocs.yml, what ``{{ facts.KEY }}`` on a page says: tests read facts here."""
    return site_config()["extra"]["facts"]


def search_probes() -> list[tuple[str, str, str]]:
    """(language, query, "tutorials/NN-slug/") for every query a tutorial's test module lists in its
    ``SEARCH_PROBES = {"zh": [...], "en": [...]}``: searching the query must find that tutorial."""
    import ast

    probes = []
    for folder in site_registry.discover(ROOT / "docs").values():
        path = Path(__file__).parent / f"{module_name(folder.folder)}.py"
        if not path.exists():
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "SEARCH_PROBES" for t in node.targets):
                for lang, queries in ast.literal_eval(node.value).items():
                    probes += [(lang, q, folder.path) for q in queries]
    return probes


def free_port() -> str:
    """A free TCP port on 127.0.0.1 (for MASTER_PORT and the like)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return str(sock.getsockname()[1])


@pytest.fixture
def ai_platform(tmp_path) -> dict[str, str]:
    """What a SCOW AI app or training job has: Tutorial 5's dataset folder attached
    (``SCOW_AI_DATASET_PATH``), a model folder for the test to fill (``SCOW_AI_MODEL_PATH``, not created) and
    an existing ``WORK_DIR``. Pass it as ``run_script(..., env=ai_platform)``."""
    dataset = tmp_path / "dataset"
    datasets_tutorial = other_tutorial(5).folder
    dataset.mkdir()
    for path in datasets_tutorial.glob("*.json"):  # the dataset file and dataset_info.json
        shutil.copy(path, dataset / path.name)
    work = tmp_path / "workdir"
    work.mkdir()
    return {"SCOW_AI_MODEL_PATH": str(tmp_path / "model"), "SCOW_AI_DATASET_PATH": str(dataset),
            "WORK_DIR": str(work)}


@pytest.fixture
def model_folder(ai_platform) -> Path:
    """An attached model folder (``SCOW_AI_MODEL_PATH`` of ``ai_platform``) holding only a ``config.json``: enough
    for a script's "is a model attached?" check, for runs with a stand-in that does not read the model."""
    folder = Path(ai_platform["SCOW_AI_MODEL_PATH"])
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def gpu_present() -> str | None:
    """None when an NVIDIA GPU and its driver answer (``nvidia-smi -L`` lists one), else why not."""
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA GPU here (nvidia-smi not found); run these on a GPU node with `make verify-gpu`"
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"nvidia-smi failed ({exc})"
    if out.returncode != 0 or "GPU " not in out.stdout:
        return f"nvidia-smi -L lists no GPU (exit {out.returncode}): {(out.stdout + out.stderr).strip()[:200]}"
    return None


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` skip with the reason where no GPU is present; they are never faked."""
    reason = None
    for item in items:
        if item.get_closest_marker("gpu") is None:
            continue
        if reason is None:
            reason = gpu_present() or ""
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


def other_tutorial(number: int) -> Tutorial:
    """Another tutorial (its folder and environment), for a test that uses its files: never build its path."""
    found = site_registry.discover(ROOT / "docs").get(number)
    if found is None:
        pytest.fail(f"no tutorial {number} in docs/tutorials/", pytrace=False)
    return found


RECORD = os.environ.get("TUTORIAL_RECORD") == "1"


def record_or_compare(path: Path, actual: str, same=None) -> None:
    """The one way to keep an output a page shows: with ``TUTORIAL_RECORD=1`` write ``actual`` to ``path``
    (a committed file next to the page); otherwise fail unless ``same(recorded, actual)`` (default: equal)."""
    if RECORD:
        path.write_text(actual, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"{path}: no recorded output; run this test once with TUTORIAL_RECORD=1", pytrace=False)
    recorded = path.read_text(encoding="utf-8")
    ok = (recorded == actual) if same is None else same(recorded, actual)
    if not ok:
        pytest.fail(f"{path} no longer matches what the script prints; if the change is intended, "
                    f"re-record with TUTORIAL_RECORD=1.\n--- recorded\n{recorded[-2000:]}\n--- now\n"
                    f"{actual[-2000:]}", pytrace=False)
