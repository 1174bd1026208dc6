"""A real single-node Slurm for the tutorials' batch scripts (loaded by conftest.py as a pytest plugin).

The session-scoped ``slurm`` fixture starts, as root and without systemd, a private ``munged`` (its own key
and socket), ``slurmctld`` and ``slurmd`` from Debian's ``slurm-wlm``, all listening on 127.0.0.1 only, on
free ports, with their state in a temporary folder; it stops them when the session ends. Several test
sessions on one machine each get their own cluster. The node declares 8 CPUs (more than the test machine
may have: ``SlurmdParameters=config_overrides``) and 4 GPUs as a generic resource (``gres/gpu`` backed by
placeholder files, so ``--gres=gpu:N`` schedules; no GPU exists and none is used). Partition: ``slurm.partition``.
Where Slurm cannot run (not root, packages missing: ``make test`` installs them as root) the tests that use it
are skipped with the reason; under ``CI=true`` that is a failure.

Usage in a tutorial's test module::

    def test_job(slurm, tutorial, workdir):
        job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial,
                           fill={"<partition>": slurm.partition}, timeout=600)
        assert job.state == "COMPLETED" and job.exit_code == "0:0", job.report()
        assert "Finished" in job.output

``submit(script, cwd, tutorial=None, fill=None, timeout=600, conda_env="torch", env=None, name=None)``:

* ``script``: a file in ``cwd`` (a reader's folder, e.g. the ``workdir`` fixture; never ``docs/``).
* ``fill``: ``{placeholder: value}``; each placeholder must occur in the script and is replaced in the file,
  as the page tells the reader to edit it (``name="x.sh"`` writes the edited copy under another name instead).
* Directives: Slurm reads only ``#SBATCH`` lines. A script whose directives are ``#CBATCH`` lines (鹤思 /
  CraneSched) is submitted as a copy with ``#CBATCH`` replaced by ``#SBATCH`` (``job.converted`` is True), so
  the same options are checked by Slurm. ``sbatch`` rejects an option it does not know: ``submit`` then fails
  the test with sbatch's message.
* ``tutorial``: the activation lines of Tutorial 0 (``source "$CONDA_BASE/etc/profile.d/conda.sh"``,
  ``conda activate torch``) must find a real environment, without editing the script. conda itself cannot be
  installed here (no conda channel is reachable and PyPI has no conda), so the fixture writes a STAND-IN
  ``~/miniconda3/etc/profile.d/conda.sh`` in the job's own HOME: its ``conda activate NAME`` puts
  ``~/miniconda3/envs/NAME/bin`` first on PATH and sets ``CONDA_PREFIX`` / ``CONDA_DEFAULT_ENV`` as conda does, and
  fails with conda's ``EnvironmentNameNotFound`` message for any other name; ``envs/<conda_env>`` is a link to the
  tutorial's real environment (``.envs/NN-slug``, the exact pins of its requirements.txt). So the test proves the
  script's own activation lines select the tutorial's packages; it does not run Miniconda's own shell code.
* The job's environment is what ``sbatch`` exports from the submitting shell: a plain PATH (no virtualenv),
  that HOME, caches inside it, ``HF_HUB_OFFLINE=1``, no GPU, no proxy (``env`` adds more).

The returned ``Job``: ``id``, ``state`` (``COMPLETED``, ``FAILED``, ``TIMEOUT``, ``CANCELLED`` ...), ``exit_code``
(``"0:0"``: exit status, then the signal), ``output_path`` (Path of the job's output file, as ``-o`` named it),
``output`` (its text), ``sbatch`` (sbatch's stdout, e.g. ``Submitted batch job 2``), ``sbatch_stderr``
(warnings), ``squeue`` (what ``squeue`` printed while the job was listed, RUNNING if seen, else PENDING),
``squeue_seen`` (every distinct squeue listing, in order), ``sacct`` (a job-accounting listing at the end: see
``ACCOUNTING`` below), ``fields`` (``scontrol show job``'s KEY=VALUE fields at the end, e.g. ``fields["TresPerNode"]``),
``converted`` and ``report()`` (all of the above, for assertion messages).

ACCOUNTING: ``sacct`` needs ``slurmdbd`` and a database, which this fixture does not run. ``job.sacct`` is
therefore the completion record Slurm itself wrote for the job (``JobCompType=jobcomp/filetxt``), laid out in
``sacct``'s default columns (JobID, JobName, Partition, Account, AllocCPUS, State, ExitCode). Pages that show
it must say it is this record, in sacct's columns.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from scow_tutorials.common import ROOT
from slurm_job import TERMINAL, Job, parse_fields, sacct_table
from tutorial_fixtures import free_port, isolated_env
from walk.nodes import SYSTEM_PATH
from walk.standins import CONDA_SH, conda_prefix

PARTITION = "gpu"
NODE = "localhost"
CPUS = 8
GPUS = 4
PROGRAMS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
__all__ = ["CONDA_SH", "Job", "Slurm", "parse_fields", "sacct_table"]  # CONDA_SH: the walk's conda stand-in


class SlurmUnavailable(RuntimeError):
    pass


class Slurm:
    """A running single-node cluster; see the module docstring."""

    partition = PARTITION

    def __init__(self, base: Path):
        self.base = base
        self.conf = base / "slurm.conf"
        self.jobcomp = base / "log" / "jobcomp.txt"
        self.procs: list[subprocess.Popen] = []

    # -------------------------------------------------------------------------------- start / stop
    def start(self) -> None:
        base = self.base
        for sub in ("state", "spool", "log", "gpus"):
            (base / sub).mkdir()
        munge = base / "munge"
        munge.mkdir(mode=0o755)
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        shutil.chown(munge, "munge", "munge")
        shutil.chown(key, "munge", "munge")
        key.chmod(0o400)
        self.socket = munge / "munge.socket"
        self._spawn(["munged", "--foreground", f"--socket={self.socket}", f"--key-file={key}",
                     f"--pid-file={munge / 'munged.pid'}", f"--log-file={munge / 'munged.log'}",
                     f"--seed-file={munge / 'munged.seed'}"], user="munge", log=munge / "munged.out")
        self._wait(lambda: self.socket.exists(), 10, "munged did not create its socket", munge / "munged.log")

        gpu_files = []
        for index in range(GPUS):
            placeholder = base / "gpus" / f"gpu{index}"
            placeholder.touch()
            gpu_files.append(str(placeholder))
        (base / "gres.conf").write_text(f"NodeName={NODE} Name=gpu File={base}/gpus/gpu[0-{GPUS - 1}]\n")
        self.conf.write_text("\n".join([
            "ClusterName=tutorials",
            f"SlurmctldHost={NODE}",
            f"SlurmctldPort={free_port()}",
            f"SlurmdPort={free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            "CredType=cred/munge",
            f"AuthInfo=socket={self.socket}",
            "CommunicationParameters=NoInAddrAny,NoCtldInAddrAny",  # listen on 127.0.0.1 only
            f"StateSaveLocation={base}/state",
            f"SlurmdSpoolDir={base}/spool",
            f"SlurmctldPidFile={base}/slurmctld.pid",
            f"SlurmdPidFile={base}/slurmd.pid",
            f"SlurmctldLogFile={base}/log/slurmctld.log",
            f"SlurmdLogFile={base}/log/slurmd.log",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core_Memory",
            "DefMemPerCPU=500",
            "GresTypes=gpu",
            "SlurmdParameters=config_overrides",
            "ReturnToService=2",
            "MpiDefault=none",
            "SchedulerType=sched/backfill",
            "MinJobAge=3600",
            "JobCompType=jobcomp/filetxt",
            f"JobCompLoc={self.jobcomp}",
            "AccountingStorageType=accounting_storage/none",
            f"NodeName={NODE} NodeAddr=127.0.0.1 NodeHostname={NODE} CPUs={CPUS} RealMemory={CPUS * 1000} "
            f"Gres=gpu:{GPUS} State=UNKNOWN",
            f"PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP",
            "",
        ]))
        self.env = dict(os.environ, SLURM_CONF=str(self.conf))
        self._spawn(["slurmctld", "-D", "-f", str(self.conf)], log=base / "log" / "slurmctld.out")
        self._spawn(["slurmd", "-D", "-f", str(self.conf), "-N", NODE], log=base / "log" / "slurmd.out")
        self._wait(self._node_idle, 30, "the node did not become idle", base / "log" / "slurmctld.log")

    def _spawn(self, command: list[str], log: Path, user: str | None = None) -> None:
        with open(log, "wb") as out:
            self.procs.append(subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, user=user,
                                               env=getattr(self, "env", None), start_new_session=True))

    def _wait(self, ready, seconds: float, what: str, log: Path) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if ready():
                return
            dead = [p for p in self.procs if p.poll() is not None]
            if dead:
                break
            time.sleep(0.3)
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"
        raise SlurmUnavailable(f"{what} (log {log}):\n{tail}")

    def _node_idle(self) -> bool:
        result = self.run(["sinfo", "-h", "-o", "%t"], check=False)
        return result.returncode == 0 and result.stdout.strip() == "idle"

    def stop(self) -> None:
        if getattr(self, "env", None):
            self.run(["scontrol", "shutdown"], check=False)
        for index, proc in reversed(list(enumerate(self.procs))):
            if index == 0 and proc.poll() is None:  # munged: scontrol shutdown stops only Slurm's daemons
                proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()

    def run(self, command: list[str], check: bool = True, env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False, cwd=cwd,
                                env=dict(env or self.env, SLURM_CONF=str(self.conf)))
        if check and result.returncode != 0:
            pytest.fail(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}",
                        pytrace=False)
        return result

    # -------------------------------------------------------------------------------------- submit
    def job_env(self, home: Path, extra: dict[str, str] | None) -> dict[str, str]:
        """A reader's login shell as sbatch exports it: plain PATH, own HOME, offline, no GPU."""
        env = isolated_env(home, None, extra)
        env["PATH"] = SYSTEM_PATH
        env.pop("VIRTUAL_ENV", None)
        env["SLURM_CONF"] = str(self.conf)
        return env

    def submit(self, script: str, cwd: Path, tutorial=None, fill: dict[str, str] | None = None,
               timeout: float = 600, conda_env: str = "torch", env: dict[str, str] | None = None,
               name: str | None = None) -> Job:
        cwd = Path(cwd).resolve()
        if (ROOT / "docs") in cwd.parents or cwd == ROOT / "docs":
            pytest.fail("slurm.submit edits the script: give it a copy (the workdir fixture), not docs/",
                        pytrace=False)
        source = cwd / script
        if not source.is_file():
            pytest.fail(f"slurm.submit: {source} does not exist", pytrace=False)
        text = source.read_text(encoding="utf-8")
        for placeholder, value in (fill or {}).items():
            if placeholder not in text:
                pytest.fail(f"slurm.submit: {script} has no {placeholder!r} to fill", pytrace=False)
            text = text.replace(placeholder, value)
        converted = bool(re.search(r"^#CBATCH\b", text, re.M)) and not re.search(r"^#SBATCH\b", text, re.M)
        if converted:
            text = re.sub(r"^#CBATCH\b", "#SBATCH", text, flags=re.M)
        target = cwd / (name or script)
        target.write_text(text, encoding="utf-8")

        home = cwd.parent / "slurm-home"
        if tutorial is not None:
            self._conda_stand_in(home, tutorial, conda_env)
        home.mkdir(parents=True, exist_ok=True)
        job_env = self.job_env(home, env)

        result = self.run(["sbatch", target.name], check=False, env=job_env, cwd=cwd)
        if result.returncode != 0:
            pytest.fail(f"sbatch rejected {target.name} (exit {result.returncode}):\n{result.stdout}"
                        f"{result.stderr}", pytrace=False)
        match = re.search(r"Submitted batch job (\d+)", result.stdout)
        assert match, result.stdout + result.stderr
        job = Job(id=match.group(1), script=target, sbatch=result.stdout, sbatch_stderr=result.stderr,
                  converted=converted)
        self._wait_for(job, timeout)
        return job

    def _conda_stand_in(self, home: Path, tutorial, conda_env: str) -> None:
        base = conda_prefix(home / "miniconda3")  # the page walk's conda stand-in (tests/walk/standins.py)
        link = base / "envs" / conda_env
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(tutorial.env, target_is_directory=True)

    def _wait_for(self, job: Job, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            listing = self.run(["squeue", "-j", job.id], check=False).stdout.rstrip()
            if len(listing.splitlines()) > 1 and listing not in job.squeue_seen:
                job.squeue_seen.append(listing)
            job.fields = parse_fields(self.run(["scontrol", "show", "job", job.id], check=False).stdout)
            if job.fields.get("JobState") in TERMINAL:
                break
            if time.monotonic() > deadline:
                self.run(["scancel", job.id], check=False)
                job.state = job.fields.get("JobState", "?")
                pytest.fail(f"job {job.id} did not finish within {timeout} s:\n{job.report()}", pytrace=False)
            time.sleep(0.25)
        job.state = job.fields["JobState"]
        job.exit_code = job.fields.get("ExitCode", "")
        out = job.fields.get("StdOut")
        job.output_path = Path(out) if out else None
        records = []
        for _ in range(20):  # the completion record is written right after the state changes
            if self.jobcomp.exists():
                records = [parse_fields(line) for line in self.jobcomp.read_text().splitlines()
                           if re.match(rf"JobId={job.id}\s", line)]
            if records:
                break
            time.sleep(0.1)
        job.sacct = sacct_table(records)


def _unavailable(reason: str):
    message = f"a real Slurm cannot run here: {reason}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the batch-script tests must run)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def slurm():
    if os.name != "posix" or os.geteuid() != 0:
        _unavailable("the daemons must start as root (run the tests as root, e.g. in CI)")
    missing = [p for p in PROGRAMS if shutil.which(p) is None]
    if missing:
        _unavailable(f"{', '.join(missing)} not found: install the Debian packages slurm-wlm and munge "
                     "(`make test` does, as root)")
    base = Path(tempfile.mkdtemp(prefix="slurm-tests-", dir="/tmp"))  # munge (not root) must reach it
    base.chmod(0o755)
    cluster = Slurm(base)
    try:
        cluster.start()
    except (SlurmUnavailable, OSError, KeyError) as exc:
        cluster.stop()
        _unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
