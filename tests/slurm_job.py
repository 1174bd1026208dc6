"""A finished job of the test Slurm (``slurm.submit`` returns one; see tests/slurm_fixtures.py), and how
``scontrol`` fields and the completion records Slurm writes are read."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE"}

def parse_fields(text: str) -> dict[str, str]:
    """``KEY=VALUE`` pairs of ``scontrol show job`` or a jobcomp record (values hold no spaces there)."""
    return dict(re.findall(r"(?:^|\s)([A-Za-z_:/]+)=(\S*)", text))


def sacct_table(records: list[dict[str, str]]) -> str:
    """Jobcomp records laid out in sacct's default columns (sacct pads to 10 characters, right-aligned)."""
    columns = ["JobID", "JobName", "Partition", "Account", "AllocCPUS", "State", "ExitCode"]
    widths = [12, 10, 10, 10, 10, 10, 8]
    lines = [" ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)),
             " ".join("-" * w for w in widths)]
    for rec in records:
        values = [rec.get("JobId", ""), rec.get("Name", ""), rec.get("Partition", ""), rec.get("Account", ""),
                  rec.get("ProcCnt", ""), rec.get("JobState", ""), rec.get("ExitCode", "")]
        lines.append(" ".join(v[:w].rjust(w) if len(v) <= w else v[: w - 1] + "+" for v, w in zip(values, widths, strict=True)))
    return "\n".join(lines)


@dataclass
class Job:
    id: str
    script: Path
    sbatch: str
    sbatch_stderr: str
    converted: bool
    state: str = ""
    exit_code: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    squeue_seen: list[str] = field(default_factory=list)
    sacct: str = ""
    output_path: Path | None = None

    @property
    def squeue(self) -> str:
        running = [s for s in self.squeue_seen if re.search(r"\s R\s", s)]
        if running:
            return running[-1]
        return self.squeue_seen[0] if self.squeue_seen else ""

    @property
    def output(self) -> str:
        if self.output_path is None or not self.output_path.exists():
            return ""
        return self.output_path.read_text(encoding="utf-8", errors="replace")

    def assert_ended(self, state: str = "COMPLETED", exit_code: str = "0:0", output: str | None = None) -> None:
        """The one check of a finished job: its state and exit code, sbatch's plain answer, and (``output``:
        the ``-o`` pattern with %j, e.g. ``"house-prices-%j.out"``) the output file beside the script."""
        assert self.state == state and self.exit_code == exit_code, self.report()
        assert self.sbatch == f"Submitted batch job {self.id}\n" and not self.sbatch_stderr, self.report()
        if output is not None:
            expected = self.script.parent / output.replace("%j", self.id)
            assert self.output_path == expected, f"output file {self.output_path}, expected {expected}"

    def report(self) -> str:
        return (f"job {self.id} ({self.script.name}): state {self.state}, exit code {self.exit_code}\n"
                f"sbatch: {self.sbatch.strip()} {self.sbatch_stderr.strip()}\n"
                f"squeue:\n{self.squeue}\nsacct:\n{self.sacct}\n"
                f"output file {self.output_path}:\n{self.output[-4000:]}")
