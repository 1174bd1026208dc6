"""Tutorial 3 (ResNet18 on CIFAR-10 with DDP): training, data checks, the download script, the batch job.

Nothing is downloaded: tests/fixtures/t03_fake_cifar10.py writes a tiny CIFAR-10 (random 32x32 images, 80 for
training, 32 for testing) in the on-disk layout torchvision reads, and train_ddp.py trains on it with two CPU
processes talking through gloo, started by torchrun as the page starts it. The real archive's checksum cannot
match anything a test builds, so download_cifar10.py is tested on its refusals (damaged archive, unreachable
address, a folder that is not CIFAR-10) and its checksums are compared with torchvision's own.
"""

from __future__ import annotations

import json
import math
import re
import tarfile
from pathlib import Path

from slurm_fixtures import CONDA_SH

FIXTURES = Path(__file__).parent / "fixtures"
FAKE = str(FIXTURES / "t03_fake_cifar10.py")

SEARCH_PROBES = {
    "zh": ["单机 多卡", "ResNet18 CIFAR-10", "DistributedDataParallel 梯度"],
    "en": ["ResNet18 several GPUs", "CIFAR-10 DistributedDataParallel", "torchrun nproc_per_node"],
}

EPOCH = re.compile(r"^epoch (\d+)/(\d+)  loss (\S+)  test acc (\S+)  data wait (\S+) s  compute (\S+) s  "
                   r"(\d+) img/s \((\d+) process\(es\)\)$", re.M)


def fake_data(run_script, root: Path, per_batch: int = 8, test: int = 16) -> dict:
    """A tiny CIFAR-10 folder: 5 training batches of per_batch images, a test batch of test images."""
    return json.loads(run_script(FAKE, str(root), "--per-batch", str(per_batch), "--test", str(test)).stdout)


def check_epochs(output: str, epochs: int, processes: int) -> list[tuple]:
    rows = EPOCH.findall(output)
    # Only rank 0 prints: one line per epoch, not one per process.
    assert [(int(r[0]), int(r[1])) for r in rows] == [(e, epochs) for e in range(1, epochs + 1)], output
    for _, _, loss, acc, wait, compute, rate, procs in rows:
        assert math.isfinite(float(loss)) and float(loss) > 0
        assert 0.0 <= float(acc) <= 1.0
        assert float(wait) >= 0 and float(compute) > 0 and int(rate) > 0
        assert int(procs) == processes
    return rows


def test_two_gloo_processes_train_and_only_rank_0_writes(run_script, workdir):
    info = fake_data(run_script, workdir / "data")
    result = run_script("torchrun", "--standalone", "--nproc_per_node=2", "train_ddp.py", "--data", "data",
                        "--epochs", "2", "--batch-size", "16", "--out", "out/model.pt", timeout=300,
                        env={"OMP_NUM_THREADS": "1"})
    out = result.stdout
    assert "Device: cpu (CPU), 2 process(es), backend gloo" in out
    assert "Global batch 16 = 2 x 8 per process; lr 0.003125 (linear scaling: 0.1 x 16 / 512)" in out
    assert f"Data: {info['train']} training and {info['test']} test images" in out
    check_epochs(out, epochs=2, processes=2)
    assert out.count("Saved model to out/model.pt") == 1
    assert re.search(r"^Done: 2 epochs in [\d.]+ s, final test acc [01]\.\d{4}$", out, re.M), out
    assert "Traceback" not in result.output
    # One checkpoint, written by rank 0 alone (no per-rank copies, no temporary file left behind).
    assert [p.name for p in (workdir / "out").iterdir()] == ["model.pt"]
    assert (workdir / "out" / "model.pt").stat().st_size > 40_000_000  # ResNet18: 11.2 M float32 weights
    assert not (workdir / "resnet18_cifar10.pt").exists()
    print("\n" + out)  # with pytest -s: the output the page shows


def test_missing_data_names_the_download_command(run_script, workdir):
    bad = run_script("train_ddp.py", "--data", "nowhere", check=False)
    assert bad.returncode == 2, bad.output
    assert "CIFAR-10 not found: nowhere/cifar-10-batches-py does not exist" in bad.stderr
    assert "python download_cifar10.py --root nowhere" in bad.stderr
    assert "Traceback" not in bad.output

    fake_data(run_script, workdir / "data")
    (workdir / "data" / "cifar-10-batches-py" / "data_batch_3").unlink()
    partial = run_script("train_ddp.py", "--data", "data", "--check-data", check=False)
    assert partial.returncode == 2 and "lacks data_batch_3" in partial.stderr, partial.output


def test_data_check_and_torchrun_hint(run_script, workdir):
    fake_data(run_script, workdir / "data")
    ok = run_script("train_ddp.py", "--data", "data", "--check-data")
    assert "CIFAR-10 files found in data/cifar-10-batches-py" in ok.stdout
    plain = run_script("train_ddp.py", "--data", "data", check=False)
    assert plain.returncode == 2, plain.output
    assert "torchrun --standalone --nproc_per_node=2 train_ddp.py" in plain.stderr


def test_download_refuses_a_damaged_archive(run_script, workdir, tmp_path):
    fake_data(run_script, tmp_path / "src")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    bad = run_script("download_cifar10.py", "--root", "data", "--url", archive.as_uri(), check=False)
    assert bad.returncode == 2, bad.output
    assert "damaged or not CIFAR-10" in bad.stderr and "c58f30108f718f92721af3b95e74349a" in bad.stderr
    assert list((workdir / "data").iterdir()) == []  # the bad download is deleted, nothing unpacked


def test_download_without_network_says_where_to_run_it(run_script, tmp_path):
    bad = run_script("download_cifar10.py", "--root", "data", "--url", (tmp_path / "absent.tar.gz").as_uri(),
                     check=False)
    assert bad.returncode == 2, bad.output
    assert "could not download" in bad.stderr and "login/data node" in bad.stderr
    assert "Traceback" not in bad.output


def test_download_checks_an_existing_folder(run_script, workdir):
    fake_data(run_script, workdir / "data")
    bad = run_script("download_cifar10.py", "--root", "data", check=False)
    assert bad.returncode == 2, bad.output
    assert "missing or differ from CIFAR-10: data_batch_1" in bad.stderr
    assert "rm -r data/cifar-10-batches-py" in bad.stderr


def test_download_checksums_are_torchvisions(tutorial, workdir):
    """download_cifar10.py's MD5 values equal those in the installed torchvision (read, not imported)."""
    source = next(tutorial.env.glob("lib/python*/site-packages/torchvision/datasets/cifar.py")).read_text()
    cifar10 = source.split("class CIFAR100")[0]
    theirs = dict(re.findall(r'\["(\w+)", "([0-9a-f]{32})"\]', cifar10))
    theirs["batches.meta"] = re.search(r'"md5": "([0-9a-f]{32})"', cifar10).group(1)
    theirs["archive"] = re.search(r'tgz_md5 = "([0-9a-f]{32})"', cifar10).group(1)
    ours = (workdir / "download_cifar10.py").read_text()
    mine = dict(re.findall(r'"([\w.]+)": "([0-9a-f]{32})"', ours))
    mine["archive"] = re.search(r'ARCHIVE_MD5 = "([0-9a-f]{32})"', ours).group(1)
    assert mine == theirs
    assert re.search(r'URL = "(\S+)"', ours).group(1) in source


def conda_stand_in(home: Path, env: Path) -> Path:
    """Tutorial 0's ~/miniconda3 as the batch script uses it (the stand-in of tests/slurm_fixtures.py)."""
    base = home / "miniconda3"
    (base / "etc" / "profile.d").mkdir(parents=True)
    (base / "etc" / "profile.d" / "conda.sh").write_text(CONDA_SH)
    (base / "envs").mkdir()
    (base / "envs" / "torch").symlink_to(env, target_is_directory=True)
    return base


def test_job_script_stops_early_without_data(tutorial, run_script, workdir):
    conda_stand_in(run_script.home, tutorial.env)
    job = run_script("job.sh", check=False)
    assert job.returncode == 2, job.output
    assert "python download_cifar10.py --root data" in job.stderr
    assert "starting 1 process(es)" in job.stdout  # no GPU listed: one process
    assert "Finished" not in job.stdout and "Device:" not in job.stdout  # torchrun never started


def test_batch_job_runs_under_slurm(slurm, tutorial, run_script, workdir):
    fake_data(run_script, workdir / "data", per_batch=4, test=8)
    job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       timeout=600)
    assert job.state == "COMPLETED", job.report()
    assert job.exit_code == "0:0", job.report()
    assert job.output_path == workdir / f"resnet-ddp-{job.id}.out"
    assert job.fields["TresPerNode"] == "gres:gpu:2" and job.fields["JobName"] == "resnet-ddp"
    output = job.output
    # The two GPUs of the allocation (fake ones here) give two processes; without CUDA they use gloo.
    assert "starting 2 process(es)" in output, output
    assert "2 process(es), backend gloo" in output
    check_epochs(output, epochs=5, processes=2)
    assert re.search(r"^Done: 5 epochs in ", output, re.M) and "Finished" in output
    assert (workdir / "resnet18_cifar10.pt").stat().st_size > 40_000_000
    print(f"\n--- sbatch\n{job.sbatch}--- squeue\n{job.squeue}\n--- sacct\n{job.sacct}\n--- output\n{output}")


def test_batch_job_without_data_fails_with_the_download_command(slurm, tutorial, workdir):
    job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       timeout=600)
    assert job.state == "FAILED" and job.exit_code == "2:0", job.report()
    assert "python download_cifar10.py --root data" in job.output
    assert "Device:" not in job.output and "Finished" not in job.output
    assert "FAILED" in job.sacct and "2:0" in job.sacct
    print(f"\n--- sacct\n{job.sacct}\n--- output\n{job.output}")
