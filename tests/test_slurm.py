"""The ``slurm`` fixture itself (tests/slurm_fixtures.py): a real single-node Slurm that accepts the directives
the tutorials use, runs a job to COMPLETED, reports a failing job as FAILED with its exit code, reads #CBATCH
scripts through the same options, and lets a script's conda activation find a real environment."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from slurm_fixtures import CONDA_SH, parse_fields, sacct_table

JOB = """#!/bin/bash
{d} -J selftest
{d} -N 1
{d} --ntasks-per-node 1
{d} -c 2
{d} --gres=gpu:2
{d} -p <partition>
{d} -t 00:05:00
{d} -o selftest-%j.out
set -eo pipefail
echo "job $SLURM_JOB_ID in $PWD, cpus $SLURM_CPUS_PER_TASK"
{body}
echo "done"
"""


def write(folder: Path, name: str, directive: str = "#SBATCH", body: str = "true") -> str:
    (folder / name).write_text(JOB.format(d=directive, body=body))
    return name


def test_job_completes_with_its_directives(slurm, tmp_path):
    name = write(tmp_path, "ok.sh")
    job = slurm.submit(name, cwd=tmp_path, fill={"<partition>": slurm.partition}, timeout=120)
    job.assert_ended("COMPLETED", "0:0", output="selftest-%j.out")
    assert f"job {job.id} in {tmp_path}, cpus 2" in job.output and "done" in job.output
    # Every directive reached the scheduler.
    f = job.fields
    assert (f["JobName"], f["Partition"], f["NumNodes"], f["TimeLimit"]) == ("selftest", "gpu", "1", "00:05:00")
    assert f["CPUs/Task"] == "2" and f["TresPerNode"] == "gres:gpu:2"
    assert "JOBID PARTITION" in job.squeue and job.id in job.squeue
    assert "COMPLETED" in job.sacct and "0:0" in job.sacct and "selftest" in job.sacct
    assert not job.converted


def test_failing_job_is_failed_with_its_exit_code(slurm, tmp_path):
    name = write(tmp_path, "bad.sh", body="exit 3")
    job = slurm.submit(name, cwd=tmp_path, fill={"<partition>": slurm.partition}, timeout=120)
    job.assert_ended("FAILED", "3:0")
    assert "done" not in job.output
    assert "FAILED" in job.sacct and "3:0" in job.sacct


def test_cbatch_directives_are_checked_as_the_same_options(slurm, tmp_path):
    name = write(tmp_path, "crane.sh", directive="#CBATCH")
    job = slurm.submit(name, cwd=tmp_path, fill={"<partition>": slurm.partition}, timeout=120)
    assert job.converted and job.state == "COMPLETED", job.report()
    assert job.fields["TresPerNode"] == "gres:gpu:2"


def test_unknown_directive_is_rejected(slurm, tmp_path):
    name = write(tmp_path, "typo.sh")
    (tmp_path / name).write_text((tmp_path / name).read_text().replace("--gres=gpu:2", "--gress=gpu:2"))
    with pytest.raises(pytest.fail.Exception, match="sbatch rejected typo.sh"):
        slurm.submit(name, cwd=tmp_path, fill={"<partition>": slurm.partition}, timeout=60)


def test_placeholder_must_exist(slurm, tmp_path):
    name = write(tmp_path, "p.sh")
    with pytest.raises(pytest.fail.Exception, match="no '<account>' to fill"):
        slurm.submit(name, cwd=tmp_path, fill={"<account>": "x"}, timeout=60)


def test_conda_activation_finds_the_tutorial_environment(slurm, tmp_path):
    # A stand-in "tutorial" whose environment is this interpreter's prefix (what matters: PATH and python).
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").symlink_to(sys.executable)
    body = ('CONDA_BASE="${CONDA_BASE:-$HOME/miniconda3}"\n'
            'source "$CONDA_BASE/etc/profile.d/conda.sh"\n'
            "conda activate torch\n"
            'echo "python: $(command -v python) env: $CONDA_DEFAULT_ENV"\n'
            "conda activate missing || echo 'activation of missing failed'")
    work = tmp_path / "work"
    work.mkdir()
    name = write(work, "conda.sh", body=body)
    job = slurm.submit(name, cwd=work, tutorial=SimpleNamespace(env=env),
                       fill={"<partition>": slurm.partition}, timeout=120)
    assert job.state == "COMPLETED", job.report()
    assert f"python: {tmp_path}/slurm-home/miniconda3/envs/torch/bin/python env: torch" in job.output
    assert "EnvironmentNameNotFound: Could not find conda environment: missing" in job.output
    assert "activation of missing failed" in job.output


def test_helpers():
    record = ("JobId=7 UserId=root(0) GroupId=root(0) Name=house-prices JobState=FAILED Partition=gpu "
              "TimeLimit=30 NodeList=localhost ProcCnt=4 ExitCode=1:0")
    fields = parse_fields(record)
    assert fields["JobState"] == "FAILED" and fields["ExitCode"] == "1:0"
    table = sacct_table([fields]).splitlines()
    assert table[0].split() == ["JobID", "JobName", "Partition", "Account", "AllocCPUS", "State", "ExitCode"]
    assert table[2].split() == ["7", "house-pri+", "gpu", "4", "FAILED", "1:0"]
    assert "STAND-IN" in CONDA_SH
