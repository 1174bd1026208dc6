"""The node models, as bubblewrap namespaces (as root; the machine's files stay visible unless said otherwise):

* ``login``: the reader's HOME, the machine's network (the site's server, the declared "internet", the package
  stores); no GPU.
* ``compute``: the same HOME; no network at all (a network namespace of its own, shared by every offline node of
  the walk; the local package stores hidden); ``gpus`` GPUs as far as ``nvidia-smi`` is concerned.
* ``container``: an AI-platform app or job. It sees ``WORK_DIR``, the attached model and dataset (read-only at
  ``$SCOW_AI_MODEL_PATH``/``$SCOW_AI_DATASET_PATH``) and the mount point, nothing else of HOME; its ``~`` is
  ``/root``, empty per session; no network; its image is a fresh environment with the tutorial's requirements.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from scow_tutorials import envs
from walk import standins
from walk.session import WalkError

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class NodeModels:
    """What the walk's nodes are made of; ``Walk`` holds the settings (see ``walk.run``)."""

    root: Path
    home: Path
    work_dir: Path
    record: Path
    bin: Path
    uv: str
    uv_flags: list[str]
    mount: Path | None
    model: Path | None
    dataset: Path | None
    image_reqs: Path
    image_fetch: bool
    gpus: int
    gpu_name: str | None
    env: dict
    internet: dict[str, str]
    slurm: object
    site_url: str
    _image: Path | None = None
    _net: subprocess.Popen | None = None
    _net_pid = 0

    def stores(self) -> list[str]:
        """The machine's local package stores (pip's find-links and file:// indexes): hidden without network."""
        paths = []
        for flag, value in zip(self.uv_flags, self.uv_flags[1:], strict=False):
            if flag in ("--find-links", "--extra-index-url"):
                path = value[len("file://"):] if value.startswith("file://") else value
                if Path(path).is_dir():
                    paths.append(path)
        return paths

    def namespace(self, node: str) -> list[str]:
        argv = ["bwrap", "--dev-bind", "/", "/", "--die-with-parent"]
        if node == "login":
            return argv
        argv = ["nsenter", f"--net=/proc/{self.offline_net()}/ns/net", *argv]
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
        cache = Path(subprocess.run([self.uv, "cache", "dir"], capture_output=True, text=True,
                                    check=False).stdout.strip())
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
            found = re.search(r'"child-pid":\s*(\d+)', text)
            assert found, text
            self._net_pid = int(found.group(1))
        return self._net_pid

    def close_net(self) -> None:
        if self._net is not None:
            os.killpg(self._net.pid, signal.SIGKILL)
            self._net.wait()
            self._net = None

    def image_env(self) -> Path:
        """The container image's Python: a fresh environment with the image's packages (made on the host)."""
        if self._image is None:
            self._image = self.root / "image"
            subprocess.run([self.uv, "venv", "-q", "--python", sys.executable, str(self._image)], check=True)
            if self.image_reqs.exists():
                result = subprocess.run([self.uv, "pip", "install", "-q", "--python", str(self._image / "bin/python"),
                                         "-r", str(self.image_reqs), *envs.pip_config_flags()],
                                        capture_output=True, text=True, timeout=1800, check=False)
                if result.returncode:
                    raise WalkError(f"the container image's packages ({self.image_reqs}) did not install:\n"
                                    f"{result.stdout}{result.stderr}")
            shutil.copy(standins.STANDINS / "pip", self._image / "bin" / "pip")
        return self._image

    def session_env(self, node: str, name: str) -> dict[str, str]:
        env = {
            "LANG": "C.UTF-8", "TERM": "dumb", "USER": "reader", "LOGNAME": "reader", "SHELL": "/bin/bash",
            "HOME": str(self.home), "PATH": SYSTEM_PATH, "TMPDIR": "/tmp", "OMP_NUM_THREADS": "2",
            "WALK_NODE": node, "WALK_NET": "1" if node == "login" else "0", "WALK_RECORD": str(self.record),
            "WALK_STANDINS": str(self.bin), "WALK_UV": self.uv, "WALK_UV_FLAGS": " ".join(self.uv_flags),
            "WALK_SITE": self.site_url, "WALK_INTERNET": "\n".join(f"{k}\t{v}" for k, v in self.internet.items()),
            "WALK_GPUS": "0" if node == "login" else str(self.gpus), "UV_NO_PROGRESS": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        for key in ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "PIP_CERT"):  # the machine's CAs
            if key in os.environ:
                env[key] = os.environ[key]
        if self.gpu_name:
            env["WALK_GPU_NAME"] = self.gpu_name
        if self.slurm is not None:
            env["SLURM_CONF"] = str(self.slurm.conf)  # type: ignore[attr-defined]
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
        lines = standins.shell_functions(self.bin, fetch=node != "container" or self.image_fetch)
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
