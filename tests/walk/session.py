"""One shell of one node, fed block by block through a FIFO, as one terminal: ``cd``, ``export`` and shell
functions carry over between the blocks of a session. An ERR trap reports the first failing command with its
line in the block; the walk stops there."""

from __future__ import annotations

import os
import queue
import secrets
import signal
import subprocess
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from walk.run import Walk


class WalkError(AssertionError):
    pass


class Session:
    def __init__(self, walk: Walk, node: str, name: str):
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

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = raw.decode("utf-8", "replace")
            if line.startswith(self.nonce):
                self.events.put(line[len(self.nonce):].split(maxsplit=4))
            else:
                self.lines.append(line)
        self.events.put(["EXIT", str(self.proc.wait())])

    def send(self, code: str, label: str, stdin=None) -> None:
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
                raise WalkError(f"ran longer than {timeout:.0f} s") from None
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

    def close(self) -> None:
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
            self.proc.wait()
