"""The walk: the page's blocks marked ``login``, ``compute`` and ``container`` run one after the other, each in
the persistent shell of its node and session; the first failing command fails the walk, naming the block, its
line and node, and its output. Blocks marked ``none: REASON`` are counted, not run."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

from scow_tutorials import blocks as site_blocks
from scow_tutorials import envs
from scow_tutorials import frontmatter as site_frontmatter
from scow_tutorials.common import ROOT
from tutorial_fixtures import other_tutorial, site_config
from walk import standins
from walk.nodes import NodeModels
from walk.server import SiteServer
from walk.session import Session, WalkError

# Placeholders a reader replaces: <partition>, <full path>, <完整路径>, <ModelScope 上的模型 ID>.
PLACEHOLDER_RE = re.compile(r"<(?=[^\s<>])[^<>\n]*[^\s<>]>|<[^\s<>]>")
NOT_PLACEHOLDER = re.compile(r"^<<|^<\(|^<&|^<\d")
FILES_URL_RE = re.compile(r"\{\{\s*files_url(?:\.(\d\d))?\s*\}\}")
SUMMARY: list[tuple[str, str, int, list[str]]] = []  # (tutorial, lang, blocks run, reasons of those not run)

__all__ = ["Walk", "WalkError", "WalkResult", "comparable", "page_blocks", "placeholders"]


@dataclass
class Step:
    number: int
    block: site_blocks.Block
    code: str = ""
    output: str = ""
    ran: bool = False
    where: str = ""
    started: float = 0.0
    seconds: float = 0.0  # from sending the block to its end (printed by the walk: where a walk spends its time)


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
    text = page.read_text(encoding="utf-8")
    found = site_blocks.problems(text)
    if found:
        raise WalkError(f"{page}: " + f"\n{page}: ".join(found))
    return site_blocks.shell_blocks(text)


def placeholders(code: str) -> list[str]:
    return [m.group(0) for m in PLACEHOLDER_RE.finditer(code) if not NOT_PLACEHOLDER.match(m.group(0))]


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


class Walk(NodeModels):
    """A walk of one page. What a test may set, and nothing else (README.md, "The page walk"): ``typed``,
    ``stdin``, ``background``, ``after``, ``env``; the node models' inputs ``models``, ``internet``, ``gpus``,
    ``gpu_name``, ``model``, ``dataset``, ``mount``, ``image``, ``image_fetch``; ``slurm`` (the fixture)."""

    def __init__(self, tutorial, page: Path, lang: str, root: Path, server: SiteServer, *, typed=None,
                 stdin=None, background=(), after=None, env=None, models=None, internet=None, gpus=1,
                 gpu_name=None, model: Path | None = None, dataset: Path | None = None, mount: Path | None = None,
                 image: Path | None = None, image_fetch=False, slurm=None, timeout: float = 900):
        self.tutorial, self.page, self.lang, self.root, self.server = tutorial, page, lang, root, server
        self.site_url = server.url
        self.typed, self.stdin = dict(typed or {}), dict(stdin or {})
        self.background, self.after, self.env = set(background), dict(after or {}), dict(env or {})
        self.gpus, self.gpu_name, self.timeout, self.slurm = gpus, gpu_name, timeout, slurm
        self.home = root / "home" / "reader"
        self.work_dir = self.home / "scow" / "ai" / "appData" / f"job-{tutorial.number:02d}"
        self.record = root / "record"
        self.bin = root / "standins"
        for path in (self.home, self.work_dir, self.record, self.bin):
            path.mkdir(parents=True, exist_ok=True)
        standins.install(self.bin, models)
        self.internet = {prefix: server.serve(folder) for prefix, folder in (internet or {}).items()}
        self.model, self.dataset, self.mount = model, dataset, mount
        self.image_fetch = image_fetch
        self.image_reqs = image or (tutorial.folder / "requirements.txt")
        self.uv = envs.uv_command()[0]
        self.uv_flags = envs.pip_config_flags()
        self.sessions: dict[tuple[str, str], Session] = {}
        self.steps = [Step(i, b) for i, b in enumerate(page_blocks(page))]

    # ---------------------------------------------------------------- Tutorial 0's state, Slurm
    def install_conda(self, environments: dict[str, Path] | None = None) -> Path:
        """The state Tutorial 0 leaves the reader in (``walk.standins.install_conda``); default: the ``torch``
        environment of Tutorial 0's requirements.txt. Returns the prefix."""
        environments = environments or {"torch": other_tutorial(0).folder / "requirements.txt"}
        try:
            return standins.install_conda(self.home, self.uv, environments, self.uv_flags)
        except RuntimeError as exc:
            raise WalkError(str(exc)) from None

    def miniconda_installer(self, path: Path) -> Path:
        """A STAND-IN Miniconda installer for Tutorial 0's own walk (``bash FILE -b -p PREFIX``)."""
        return standins.miniconda_installer(path, self.uv)

    def wait_for_jobs(self, timeout: float = 600) -> None:
        """Wait, as the reader does, until the test Slurm has no job left."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.slurm.run(["squeue", "-h"], check=False).stdout.strip():
                return
            time.sleep(0.5)
        raise WalkError(f"jobs still queued after {timeout} s")

    # ---------------------------------------------------------------- running
    def files_path(self) -> str:
        return f"tutorials/{self.tutorial.folder.name}/"

    def files_url(self, match: re.Match) -> str:
        """``{{ files_url }}`` / ``{{ files_url.NN }}``: that tutorial's files on the walk's own copy of the site."""
        folder = self.tutorial.folder if match.group(1) is None else other_tutorial(int(match.group(1))).folder
        return f"{self.server.url}site/tutorials/{folder.name}/"

    def code_of(self, step: Step) -> str:
        code = FILES_URL_RE.sub(self.files_url, step.block.code)
        code = site_frontmatter.substitute(code, site_config(), f"{self.files_path()}index.md", str(self.page))
        for placeholder, value in self.typed.items():
            code = code.replace(placeholder, str(value))
        left = placeholders(code)
        if left:
            raise WalkError(f"{self.page}:{step.block.line}: placeholder {left[0]} in a block the walk runs; "
                            f"say what the reader types for it: page_walk(typed={{{left[0]!r}: ...}})")
        return code

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
                shown = self.page.relative_to(ROOT) if ROOT in self.page.parents else self.page
                step.where = f"{shown}:{block.line}"
                session = self.session(block.node, block.session)
                for other in [p for p in pending if p[1] is session]:
                    self._finish(*other)
                    pending.remove(other)
                stdin = None
                if step.number in self.stdin:
                    stdin = self.root / "sessions" / f"stdin-{step.number}"
                    stdin.write_text(self.stdin[step.number], encoding="utf-8")
                step.started = time.monotonic()
                session.send(step.code, label=str(step.number), stdin=stdin)
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
            self.close_net()
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
        step.seconds = time.monotonic() - step.started
        print(f"walk: block {step.number} ({step.block.spec}, {step.where}) {step.seconds:.1f} s")
