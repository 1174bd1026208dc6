"""The page walk: a tutorial page's shell blocks, run in page order, unmodified, in models of the nodes they run on.

Every shell block a reader types carries a marker saying where it runs (``overrides/hooks/site_blocks.py``).
``page_walk`` runs the blocks marked ``login``, ``compute`` and ``container`` one after the other, each in a
persistent shell of its node and session (``cd``, ``export`` and shell functions carry over between blocks of
one session, as in one terminal), and fails at the first command that fails, naming the block, its line and
node, and its output. Blocks marked ``none: REASON`` are counted, not run.

The node models (bubblewrap namespaces, as root; the real machine's files are visible unless said otherwise):

* ``login``: the reader's HOME (``walk.home``, a fresh folder), the machine's network; ``{{ files_url }}`` is a
  local server holding the built site, so ``wget {{ files_url }}train.py`` downloads the published file; the
  "internet" is only what the test declares (``internet={"https://repo.example/": folder}``); ``pip`` installs
  from the machine's package stores. No GPU.
* ``compute``: the same HOME; no network at all (its own network namespace: the site's server is not there, the
  local package stores are hidden); ``gpus`` GPUs as far as ``nvidia-smi`` is concerned.
* ``container``: an AI-platform app or training job. It sees ``WORK_DIR`` (``walk.work_dir``, a folder under HOME
  that the platform made), the attached model and dataset (``model=``/``dataset=``: folders the test built,
  mounted at ``$SCOW_AI_MODEL_PATH``/``$SCOW_AI_DATASET_PATH``) and the mount point (``mount=``, a path under
  HOME, at the same absolute path), and nothing else of HOME; its ``~`` is ``/root``, empty for every session
  and lost when the session ends; no network; no ``wget``/``curl`` unless ``image_fetch=True``. Its image is a
  fresh environment with the tutorial's ``requirements.txt`` (``image=`` another requirements file).

Stand-ins for what cannot exist here (``tests/standins/``, each says so in its first lines and records its
arguments in ``walk.record``): ``nvidia-smi``, ``modelscope``/``hf``/``huggingface-cli download`` (copy the
folder the test names for that id: ``models={"Qwen/Qwen3-4B": folder}``), ``tmux``, ``cbatch``, ``wget``/
``curl`` (the real ones, with the declared "internet" pointed at the local server), and Miniconda
(``walk.install_conda()`` leaves the state Tutorial 0 ends in: ``~/miniconda3`` with conda's shell hook in
``~/.bashrc`` and the ``torch`` environment of Tutorial 0's requirements; ``walk.miniconda_installer(path)``
writes an installer for Tutorial 0's own walk). They are shell functions exported to every child, so they
stand in front of any real program of the same name. Slurm: pass the ``slurm`` fixture; ``sbatch`` and
friends then reach the test cluster, and ``after={i: walk.wait_for_jobs}`` waits as the reader does.

What the test may add, and nothing else: ``typed`` (what the reader types in place of a placeholder such as
``<完整路径>``: every ``<...>`` placeholder in a run block must be declared), ``stdin`` (what the reader types
into a program: ``{block_number: text}``), ``background`` (block numbers the reader leaves running while going
on, e.g. the first node of a two-node job), ``after`` (a host-side step after a block: wait, check a file),
``env`` (variables the platform sets in a session: ``{"container node1": {"RANK": "1"}}``).

    def test_page_walk(page_walk, tiny_model):
        walk = page_walk(models={"Qwen/Qwen3-4B-Instruct-2507": tiny_model})
        walk.install_conda()
        result = walk.run()
        assert "Model ready" in result.output(5)
        page_walk.same_blocks("en")        # the English page's blocks are the Chinese page's

Block numbers count every shell block of the page from 0 in page order (``none`` blocks too). The suite ends
with a table of blocks run and not run per tutorial and language (``pytest_terminal_summary``).
"""

from __future__ import annotations

import http.server
import os
import queue
import re
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from scow_tutorials import blocks as site_blocks
from scow_tutorials import envs
from scow_tutorials import frontmatter as site_frontmatter
from scow_tutorials.common import ROOT

WALKER_READY = True
STANDINS = Path(__file__).parent / "standins"
# Placeholders a reader replaces: <partition>, <full path>, <完整路径>, <ModelScope 上的模型 ID>.
PLACEHOLDER_RE = re.compile(r"<(?=[^\s<>])[^<>\n]*[^\s<>]>|<[^\s<>]>")
NOT_PLACEHOLDER = re.compile(r"^<<|^<\(|^<&|^<\d")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SUMMARY: list[tuple[str, str, int, list[str]]] = []  # (tutorial, lang, blocks run, reasons of those not run)


class WalkError(AssertionError):
    pass


@dataclass
class Step:
    number: int
    block: site_blocks.Block
    code: str = ""
    output: str = ""
    ran: bool = False


@dataclass
class WalkResult:
    steps: list[Step]

    def output(self, number: int) -> str:
        step = self.steps[number]
        if not step.ran:
            raise WalkError(f"block {number} (line {step.block.line}) was not run: {step.block.spec}")
        return step.output

    @property
    def run_count(self) -> int:
        return sum(step.ran for step in self.steps)


def page_blocks(page: Path) -> list[site_blocks.Block]:
    blocks = site_blocks.shell_blocks(page.read_text(encoding="utf-8"))
    found = site_blocks.problems(page.read_text(encoding="utf-8"))
    if found:
        raise WalkError(f"{page}: " + f"\n{page}: ".join(found))
    return blocks


def placeholders(code: str) -> list[str]:
    return [m.group(0) for m in PLACEHOLDER_RE.finditer(code) if not NOT_PLACEHOLDER.match(m.group(0))]


# --------------------------------------------------------------------------------------------- the site
class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep the test output clean
        pass


class SiteServer:
    """The built site at http://127.0.0.1:PORT/, and the walk's "internet" under /_internet/N/."""

    def __init__(self, site: Path, scratch: Path):
        self.root = scratch
        self.root.mkdir(parents=True, exist_ok=True)
        link = self.root / "site"
        if not link.exists():
            link.symlink_to(site, target_is_directory=True)
        (self.root / "_internet").mkdir(exist_ok=True)
        handler = lambda *a, **k: _Quiet(*a, directory=str(self.root), **k)  # noqa: E731
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def serve(self, folder: Path) -> str:
        """Serve a folder; returns its address."""
        name = secrets.token_hex(4)
        (self.root / "_internet" / name).symlink_to(Path(folder).resolve(), target_is_directory=True)
        return f"{self.url}_internet/{name}/"

    def close(self):
        self.httpd.shutdown()


# --------------------------------------------------------------------------------------------- sessions
class Session:
    """One shell of one node, fed block by block through a FIFO; stops the walk at the first failing command."""

    def __init__(self, walk: "Walk", node: str, name: str):
        self.walk, self.node, self.name = walk, node, name
        self.nonce = "__WALK_" + secrets.token_hex(6)
        self.events: queue.Queue = queue.Queue()
        self.lines: list[str] = []
        self.written = 0  # lines sent so far: the ERR trap's LINENO counts them
        self.starts: dict[str, tuple[int, list[str]]] = {}
        self.output_from: dict[str, int] = {}
        fifo = walk.root / "sessions" / f"{node}-{name}.fifo"
        fifo.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(fifo)
        argv = walk.namespace(node) + ["/bin/bash", "--noprofile", "--norc", str(fifo)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=walk.session_env(node, name),
                                     cwd="/", start_new_session=True)
        self.fd = os.open(fifo, os.O_RDWR)
        threading.Thread(target=self._read, daemon=True).start()
        self.send(walk.init_script(node, self.nonce), label="init")
        self.wait("init", 120)

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            if line.startswith(self.nonce):
                self.events.put(line[len(self.nonce):].split(maxsplit=4))
            else:
                self.lines.append(line)
        self.events.put(["EXIT", str(self.proc.wait())])

    def send(self, code: str, label: str, stdin: Path | None = None):
        body = f"{{\n{code}\n}} < {stdin}" if stdin else code
        text = (f"__walk_block={label}\n{body}\n"
                f"printf '\\n{self.nonce} DONE %s\\n' \"$__walk_block\"\n")
        self.starts[label] = (self.written + 2 + bool(stdin), code.splitlines())
        self.output_from[label] = len(self.lines)  # what the shell printed before this block is not its output
        self.written += text.count("\n")
        os.write(self.fd, text.encode("utf-8"))

    def wait(self, label: str, timeout: float) -> str:
        start = self.output_from.get(label, len(self.lines))
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise WalkError(f"ran longer than {timeout:.0f} s")
            if event[0] == "DONE" and event[1] == label:
                return "".join(self.lines[start:])
            if event[0] == "ERR":
                status, lineno = event[2], int(event[3])
                first, code = self.starts.get(event[1], (0, []))
                where = lineno - first
                command = code[where].strip() if 0 <= where < len(code) else event[4].strip()
                self.close()
                raise WalkError(f"`{command}` (line {where + 1} of the block) exited {status}\n--- output\n"
                                f"{''.join(self.lines[start:])[-5000:]}")
            if event[0] == "EXIT":
                raise WalkError(f"the shell ended (exit {event[1]}): a syntax error, `exit`, or the node model "
                                f"failed to start\n--- output\n{''.join(self.lines[start:])[-5000:]}")

    def close(self):
        try:
            os.close(self.fd)
        except OSError:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)


# --------------------------------------------------------------------------------------------- the walk
class Walk:
    def __init__(self, tutorial, page: Path, lang: str, root: Path, server: SiteServer, *, typed=None,
                 stdin=None, background=(), after=None, env=None, models=None, internet=None, gpus=1,
                 gpu_name=None, model: Path | None = None, dataset: Path | None = None, mount: Path | None = None,
                 image: Path | None = None, image_fetch=False, slurm=None, timeout: float = 900):
        self.tutorial, self.page, self.lang, self.root, self.server = tutorial, page, lang, root, server
        self.typed, self.stdin = dict(typed or {}), dict(stdin or {})
        self.background, self.after, self.env = set(background), dict(after or {}), dict(env or {})
        self.gpus, self.gpu_name, self.timeout, self.slurm = gpus, gpu_name, timeout, slurm
        self.home = root / "home" / "reader"
        self.work_dir = self.home / "scow" / "ai" / "appData" / f"job-{tutorial.number:02d}"
        self.record = root / "record"
        self.bin = root / "standins"
        for path in (self.home, self.work_dir, self.record, self.bin):
            path.mkdir(parents=True, exist_ok=True)
        for script in STANDINS.iterdir():
            shutil.copy2(script, self.bin / script.name)
        with open(self.bin / "models.tsv", "w", encoding="utf-8") as table:
            for key, folder in (models or {}).items():
                table.write(f"{key}\t{Path(folder).resolve()}\n")
        self.internet = {prefix: server.serve(folder) for prefix, folder in (internet or {}).items()}
        self.model, self.dataset, self.mount = model, dataset, mount
        self.image_fetch = image_fetch
        self.image_reqs = image or (tutorial.folder / "requirements.txt")
        self._image: Path | None = None
        self._net: subprocess.Popen | None = None
        self.uv = envs.uv_command()[0]
        self.uv_flags = " ".join(envs.pip_config_flags())
        self.sessions: dict[tuple[str, str], Session] = {}
        self.steps = [Step(i, b) for i, b in enumerate(page_blocks(page))]

    # ---------------------------------------------------------------- what the node models are made of
    def stores(self) -> list[str]:
        """The machine's local package stores (pip's find-links and file:// indexes): hidden without network."""
        paths = []
        flags = envs.pip_config_flags()
        for flag, value in zip(flags, flags[1:]):
            if flag in ("--find-links", "--extra-index-url"):
                path = value[len("file://"):] if value.startswith("file://") else value
                if Path(path).is_dir():
                    paths.append(path)
        return paths

    def namespace(self, node: str) -> list[str]:
        argv = ["bwrap", "--dev-bind", "/", "/", "--die-with-parent"]
        if node == "login":
            return argv
        argv = ["nsenter", f"--net=/proc/{self.offline_net()}/ns/net"] + argv
        for store in self.stores():
            argv += ["--tmpfs", store]
        if node == "compute":
            return argv
        argv += ["--tmpfs", str(self.root / "home"), "--tmpfs", "/root", "--tmpfs", "/mnt"]
        argv += ["--bind", str(self.work_dir), str(self.work_dir)]
        if self.mount is not None:
            argv += ["--bind", str(self.mount), str(self.mount)]
        for name, folder in (("model", self.model), ("dataset", self.dataset)):
            if folder is not None:
                argv += ["--ro-bind", str(folder), f"/mnt/scow/{name}"]
        cache = Path(subprocess.run([self.uv, "cache", "dir"], capture_output=True, text=True).stdout.strip())
        # The image's Python interpreter (and uv's cache) may live under the test machine's /root, which the
        # container's own fresh ~ covers: they stay visible, as the image's files are.
        for path, how in ((cache, "--bind"), (Path(sys.base_prefix), "--ro-bind")):
            if path.is_dir() and Path("/root") in path.parents:
                argv += [how, str(path), str(path)]
        return argv

    def offline_net(self) -> int:
        """The pid of a process holding the walk's network namespace without network (loopback only), which
        every compute node and container of the walk shares, as the nodes of one job reach each other."""
        if self._net is None:
            read, write = os.pipe()
            self._net = subprocess.Popen(["bwrap", "--dev-bind", "/", "/", "--unshare-net", "--die-with-parent",
                                          "--info-fd", str(write), "sleep", "86400"], pass_fds=(write,),
                                         start_new_session=True)
            os.close(write)
            with os.fdopen(read) as info:
                text = ""
                while "child-pid" not in text or "}" not in text:
                    chunk = info.read(1)
                    if not chunk:
                        raise WalkError("bwrap could not make a network namespace for the offline nodes")
                    text += chunk
            self._net_pid = int(re.search(r'"child-pid":\s*(\d+)', text).group(1))
        return self._net_pid

    def image_env(self) -> Path:
        """The container image's Python: a fresh environment with the image's packages (made on the host)."""
        if self._image is None:
            self._image = self.root / "image"
            subprocess.run([self.uv, "venv", "-q", "--python", sys.executable, str(self._image)], check=True)
            if self.image_reqs.exists():
                result = subprocess.run([self.uv, "pip", "install", "-q", "--python", str(self._image / "bin/python"),
                                         "-r", str(self.image_reqs), *envs.pip_config_flags()],
                                        capture_output=True, text=True, timeout=1800)
                if result.returncode:
                    raise WalkError(f"the container image's packages ({self.image_reqs}) did not install:\n"
                                    f"{result.stdout}{result.stderr}")
            shutil.copy(STANDINS / "pip", self._image / "bin" / "pip")
        return self._image

    def session_env(self, node: str, name: str) -> dict[str, str]:
        net = "1" if node == "login" else "0"
        env = {
            "LANG": "C.UTF-8", "TERM": "dumb", "USER": "reader", "LOGNAME": "reader", "SHELL": "/bin/bash",
            "HOME": str(self.home), "PATH": SYSTEM_PATH, "TMPDIR": "/tmp", "OMP_NUM_THREADS": "2",
            "WALK_NODE": node, "WALK_NET": net, "WALK_RECORD": str(self.record), "WALK_STANDINS": str(self.bin),
            "WALK_UV": self.uv, "WALK_UV_FLAGS": self.uv_flags, "WALK_SITE": self.server.url,
            "WALK_INTERNET": "\n".join(f"{k}\t{v}" for k, v in self.internet.items()),
            "WALK_GPUS": "0" if node == "login" else str(self.gpus), "UV_NO_PROGRESS": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        for key in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT"):  # the machine's CAs
            if key in os.environ:
                env[key] = os.environ[key]
        if self.gpu_name:
            env["WALK_GPU_NAME"] = self.gpu_name
        if self.slurm is not None:
            env["SLURM_CONF"] = str(self.slurm.conf)
        if node == "container":
            env.update(HOME="/root", USER="root", LOGNAME="root", WORK_DIR=str(self.work_dir), UV_LINK_MODE="copy",
                       PATH=f"{self.image_env() / 'bin'}:{SYSTEM_PATH}")
            if self.model is not None:
                env["SCOW_AI_MODEL_PATH"] = "/mnt/scow/model"
            if self.dataset is not None:
                env["SCOW_AI_DATASET_PATH"] = "/mnt/scow/dataset"
        for key in (node, f"{node} {name}"):
            env.update(self.env.get(key, {}))
        return env

    def init_script(self, node: str, nonce: str) -> str:
        tools = {"nvidia-smi": "nvidia-smi", "modelscope": "model-download", "hf": "model-download",
                 "huggingface-cli": "model-download", "tmux": "tmux", "cbatch": "cbatch"}
        lines = []
        for name, script in tools.items():
            link = self.bin / "bin" / name
            link.parent.mkdir(exist_ok=True)
            if not link.exists():
                link.symlink_to(self.bin / script)
        for name in ("wget", "curl"):
            link = self.bin / "bin" / name
            if not link.exists():
                link.symlink_to(self.bin / "fetch")
        names = list(tools) + ["wget", "curl"]
        absent = node == "container" and not self.image_fetch
        for name in names:
            func = name.replace("-", "_")
            if absent and name in ("wget", "curl"):
                lines.append(f'{name}() {{ echo "bash: {name}: command not found" >&2; return 127; }}')
            else:
                lines.append(f'{name}() {{ "{self.bin}/bin/{name}" "$@"; }}')
            lines.append(f"export -f {name}" if func == name else f'export -f "{name}"')
        lines += [
            "set -o pipefail",
            # LINENO is the FIFO's line of the page's command (also when a stand-in's function failed inside).
            f"trap 'printf \"\\n{nonce} ERR %s %s %s %s\\n\" \"$__walk_block\" \"$?\" \"$LINENO\" "
            "\"$BASH_COMMAND\"' ERR",
            'cd "$HOME"',
            '[ -f "$HOME/.bashrc" ] && . "$HOME/.bashrc"',
            "true",
        ]
        return "\n".join(lines)

    # ---------------------------------------------------------------- Tutorial 0's state, Slurm
    def install_conda(self, envs_: dict[str, Path] | None = None) -> Path:
        """The state Tutorial 0 leaves the reader in: Miniconda in ~/miniconda3, conda's hook in ~/.bashrc
        (base not activated), and one environment per name (default: ``torch`` from Tutorial 0's
        requirements.txt). Returns the prefix."""
        from tutorial_fixtures import other_tutorial

        prefix = self.home / "miniconda3"
        self._conda_base(prefix)
        (self.home / ".bashrc").write_text(f'# >>> conda initialize >>>\n. "{prefix}/etc/profile.d/conda.sh"\n'
                                           "# <<< conda initialize <<<\n", encoding="utf-8")
        for name, reqs in (envs_ or {"torch": other_tutorial(0).folder / "requirements.txt"}).items():
            target = prefix / "envs" / name
            subprocess.run([self.uv, "venv", "-q", "--python", "/usr/bin/python3", str(target)], check=True)
            result = subprocess.run([self.uv, "pip", "install", "-q", "--python", str(target / "bin/python"),
                                     "-r", str(reqs), *envs.pip_config_flags()], capture_output=True, text=True)
            if result.returncode:
                raise WalkError(f"conda env {name} ({reqs}): {result.stdout}{result.stderr}")
            shutil.copy(STANDINS / "pip", target / "bin" / "pip")
        return prefix

    def _conda_base(self, prefix: Path) -> None:
        subprocess.run([self.uv, "venv", "-q", "--allow-existing", "--python", "/usr/bin/python3", str(prefix)],
                       check=True)
        (prefix / "etc" / "profile.d").mkdir(parents=True, exist_ok=True)
        (prefix / "envs").mkdir(exist_ok=True)
        text = (STANDINS / "conda.sh").read_text().replace("__PREFIX__", str(prefix))
        (prefix / "etc" / "profile.d" / "conda.sh").write_text(text)
        (prefix / "bin" / "activate").write_text((STANDINS / "activate").read_text().replace("__PREFIX__", str(prefix)))
        shutil.copy2(STANDINS / "conda", prefix / "bin" / "conda")
        shutil.copy2(STANDINS / "pip", prefix / "bin" / "pip")

    def miniconda_installer(self, path: Path) -> Path:
        """A STAND-IN Miniconda installer (``bash FILE -b -p PREFIX``) that installs the conda stand-in."""
        path.write_text(
            "#!/bin/bash\n# STAND-IN Miniconda installer written by tests/page_walk.py (batch mode only)\n"
            'prefix="$HOME/miniconda3"\nwhile [ $# -gt 0 ]; do case "$1" in -p) prefix="$2"; shift 2;; '
            "*) shift;; esac; done\n"
            f'PYTHONPATH="{Path(__file__).parent}" "{sys.executable}" -c "import sys, page_walk; '
            'page_walk.conda_base_standalone(sys.argv[1], sys.argv[2])" '
            f'"$prefix" "{self.uv}"\necho "installation finished."\n', encoding="utf-8")
        return path

    def wait_for_jobs(self, timeout: float = 600) -> None:
        """Wait, as the reader does, until the test Slurm has no job left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.slurm.run(["squeue", "-h"], check=False).stdout.strip()
            if not out:
                return
            time.sleep(0.5)
        raise WalkError(f"jobs still queued after {timeout} s")

    # ---------------------------------------------------------------- running
    def code_of(self, step: Step) -> str:
        code = step.block.code.replace("{{ files_url }}", f"{self.server.url}site/{self.files_path()}")
        from conftest import load_config_for_tests

        code = site_frontmatter.substitute(code, _config(load_config_for_tests), f"{self.files_path()}index.md",
                                          str(self.page))
        for placeholder, value in self.typed.items():
            code = code.replace(placeholder, str(value))
        left = placeholders(code)
        if left:
            raise WalkError(f"{self.page}:{step.block.line}: placeholder {left[0]} in a block the walk runs; "
                            f"say what the reader types for it: page_walk(typed={{{left[0]!r}: ...}})")
        return code

    def files_path(self) -> str:
        return f"tutorials/{self.tutorial.folder.name}/"

    def session(self, node: str, name: str) -> Session:
        key = (node, name)
        if key not in self.sessions:
            self.sessions[key] = Session(self, node, name)
        return self.sessions[key]

    def run(self) -> WalkResult:
        pending: list[tuple[Step, Session]] = []
        try:
            for step in self.steps:
                block = step.block
                if block.node is None:
                    continue
                step.code = self.code_of(step)
                where = f"{self.page.relative_to(ROOT) if ROOT in self.page.parents else self.page}:{block.line}"
                session = self.session(block.node, block.session)
                for other in [p for p in pending if p[1] is session]:
                    self._finish(*other)
                    pending.remove(other)
                stdin = None
                if step.number in self.stdin:
                    stdin = self.root / "sessions" / f"stdin-{step.number}"
                    stdin.write_text(self.stdin[step.number], encoding="utf-8")
                session.send(step.code, label=str(step.number), stdin=stdin)
                step.where = where
                if step.number in self.background:
                    pending.append((step, session))
                else:
                    self._finish(step, session)
                if step.number in self.after:
                    self.after[step.number]()
            for step, session in pending:
                self._finish(step, session)
        finally:
            for session in self.sessions.values():
                session.close()
            if self._net is not None:
                os.killpg(self._net.pid, signal.SIGKILL)
                self._net.wait()
        result = WalkResult(self.steps)
        reasons = [s.block.reason for s in self.steps if s.block.node is None]
        if self.page in (self.tutorial.page("zh"), self.tutorial.page("en")):  # not the walker's own test pages
            SUMMARY.append((self.tutorial.folder.name, self.lang, result.run_count, reasons))
        return result

    def _finish(self, step: Step, session: Session) -> None:
        try:
            step.output = session.wait(str(step.number), self.timeout)
        except WalkError as exc:
            raise WalkError(f"page walk of {step.where}: block {step.number} ({step.block.spec}) failed: "
                            f"{exc}\n--- block\n{step.code}") from None
        step.ran = True


_CONFIG = {}


def _config(loader):
    if "c" not in _CONFIG:
        _CONFIG["c"] = loader()
    return _CONFIG["c"]


def conda_base_standalone(prefix: str, uv: str) -> None:
    """Used by the stand-in Miniconda installer (``Walk.miniconda_installer``) inside a walk."""
    walk = Walk.__new__(Walk)
    walk.uv = uv
    walk._conda_base(Path(prefix))


def comparable(code: str, typed: dict[str, str]) -> list[str]:
    """A block's commands without comments and with placeholders filled: what must agree across languages."""
    for placeholder, value in typed.items():
        code = code.replace(placeholder, str(value))
    out = []
    for line in code.splitlines():
        stripped = re.sub(r"(^|\s)#\s.*$", "", line).rstrip()
        if stripped.strip():
            out.append(stripped)
    return out


# --------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def walk_server(built, tmp_path_factory):
    server = SiteServer(built.site, tmp_path_factory.mktemp("walk-site"))
    yield server
    server.close()


@pytest.fixture
def page_walk(tutorial, tmp_path, walk_server):
    if shutil.which("bwrap") is None:
        from conftest import require_tool

        require_tool(False, "bubblewrap (bwrap) for the page walk", "apt-get install bubblewrap (make test does)")
    made: list[Walk] = []

    def make(lang: str = "zh", page: Path | None = None, **options) -> Walk:
        src = page or tutorial.folder / ("index.md" if lang == "zh" else "index.en.md")
        walk = Walk(tutorial, Path(src), lang, tmp_path / f"walk-{lang}-{len(made)}", walk_server, **options)
        made.append(walk)
        return walk

    def same_blocks(lang: str = "en", typed: dict[str, dict[str, str]] | None = None) -> None:
        """The other language's page has the same blocks, markers and commands (comments aside)."""
        zh = page_blocks(tutorial.folder / "index.md")
        other = page_blocks(tutorial.folder / ("index.en.md" if lang == "en" else f"index.{lang}.md"))
        typed = typed or {}
        assert [b.spec for b in other] == [b.spec for b in zh], f"{tutorial.slug}: the run markers differ"
        for a, b in zip(zh, other):
            assert comparable(b.code, typed.get(lang, {})) == comparable(a.code, typed.get("zh", {})), (
                f"{tutorial.slug}: block at zh line {a.line} / {lang} line {b.line} differs:\n{a.code}\n---\n{b.code}")

    make.same_blocks = same_blocks
    yield make


def pytest_terminal_summary(terminalreporter):
    if not SUMMARY:
        return
    terminalreporter.section("page walk: shell blocks run / not run")
    for name, lang, ran, reasons in sorted(SUMMARY):
        why = "; ".join(sorted(set(reasons)))
        terminalreporter.write_line(f"{name} {lang}: {ran} run, {len(reasons)} not run" + (f" ({why})" if why else ""))
