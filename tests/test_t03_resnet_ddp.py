"""Tutorial 3 (ResNet18 on CIFAR-10 with DDP): training, data checks, the download script, the batch job.

Nothing is downloaded: tests/fixtures/t03_fake_cifar10.py writes a tiny CIFAR-10 in torchvision's on-disk layout,
and train_ddp.py trains on it with two CPU processes (gloo) started by torchrun as the page starts it.
download_cifar10.py is tested on its refusals; its checksums are compared with torchvision's own."""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path

import pytest

from fixtures.t03_helpers import CA_BUNDLE, check_epochs, conda_stand_in, fake_data, same_shape, session_text, torchrun
from tutorial_fixtures import facts, other_tutorial, record_or_compare

FACTS = facts()

FIXTURES = Path(__file__).parent / "fixtures"
FAKE_CUDA = str(FIXTURES / "t03_fake_cuda.py")

SEARCH_PROBES = {
    "zh": ["单机 多卡", "ResNet18 CIFAR-10", "DistributedDataParallel 梯度"],
    "en": ["ResNet18 several GPUs", "CIFAR-10 DistributedDataParallel", "torchrun nproc_per_node"],
}


def test_two_gloo_processes_train_and_only_rank_0_writes(tutorial, run_script, workdir):
    info = fake_data(run_script, workdir / "data")
    args = ["train_ddp.py", "--data", "data", "--epochs", "2", "--batch-size", "16", "--out", "out/model.pt",
            "--device", "cpu"]
    result = torchrun(run_script, *args, env={"OMP_NUM_THREADS": "1"})
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
    command = " ".join(["torchrun --standalone --nproc_per_node=2", *args])
    record_or_compare(tutorial.folder / "example_output_cpu.txt", f"$ {command}\n{out}", same=same_shape)


def test_data_check_names_the_download_command_and_torchrun(run_script, workdir):
    bad = run_script("train_ddp.py", "--data", "nowhere", check=False)
    assert bad.returncode == 2, bad.output
    assert "CIFAR-10 not found: nowhere/cifar-10-batches-py does not exist" in bad.stderr
    assert "python download_cifar10.py --root nowhere" in bad.stderr
    assert "Traceback" not in bad.output

    fake_data(run_script, workdir / "data")
    (workdir / "data" / "cifar-10-batches-py" / "data_batch_3").unlink()
    partial = run_script("train_ddp.py", "--data", "data", "--check-data", check=False)
    assert partial.returncode == 2 and "lacks data_batch_3" in partial.stderr, partial.output

    fake_data(run_script, workdir / "data")
    ok = run_script("train_ddp.py", "--data", "data", "--check-data", "--device", "cpu")
    assert "CIFAR-10 files found in data/cifar-10-batches-py: all 7 readable, 40 training images" in ok.stdout
    assert "Device check: CPU, as asked with --device cpu" in ok.stdout
    plain = run_script("train_ddp.py", "--data", "data", check=False)
    assert plain.returncode == 2, plain.output
    assert "torchrun --standalone --nproc_per_node=2 train_ddp.py" in plain.stderr


def test_data_check_reads_every_file(run_script, workdir):
    """Issue 25: a data_batch_2 cut short (an interrupted copy) or holding no images passes the presence check;
    --check-data reads every file, so job.sh stops before torchrun with the download command."""
    fake_data(run_script, workdir / "data")
    batch = workdir / "data" / "cifar-10-batches-py" / "data_batch_2"
    whole = batch.read_bytes()
    batch.write_bytes(whole[: len(whole) // 2])
    cut = run_script("train_ddp.py", "--data", "data", "--check-data", "--device", "cpu", check=False)
    assert cut.returncode == 2, cut.output
    assert re.search(r"Error: data/cifar-10-batches-py/data_batch_2 is damaged \((UnpicklingError|EOFError)\): "
                     r"delete data/cifar-10-batches-py and download it again with python download_cifar10.py "
                     r"--root data", cut.stderr), cut.output
    assert "CIFAR-10 files found" not in cut.stdout and "Traceback" not in cut.output

    with open(batch, "wb") as f:
        pickle.dump({"data": [1, 2, 3], "labels": [0]}, f)  # a readable pickle that holds no 32x32 images
    odd = run_script("train_ddp.py", "--data", "data", "--check-data", "--device", "cpu", check=False)
    assert odd.returncode == 2 and "data_batch_2 does not hold 32x32 colour images" in odd.stderr, odd.output

    meta = workdir / "data" / "cifar-10-batches-py" / "batches.meta"
    batch.write_bytes(whole)
    meta.write_bytes(b"")
    empty = run_script("train_ddp.py", "--data", "data", "--check-data", "--device", "cpu", check=False)
    assert empty.returncode == 2 and "batches.meta is damaged (EOFError)" in empty.stderr, empty.output


def test_gpu_without_code_in_the_build_is_caught_before_training(run_script, workdir):
    """Issue 25 (8): a V100 (7.0) with the default PyPI build (FACTS t00_arch_list) passes is_available();
    --check-data compares the capability with get_arch_list() and stops with exit code 2, naming Tutorial 0's fix.
    The GPUs are faked (fixtures/t03_fake_cuda.py): only a real GPU shows the real error text."""
    fake_data(run_script, workdir / "data")
    default_build = ",".join(FACTS["t00_arch_list_en"].split(", "))
    check = ["train_ddp.py", "--data", "data", "--check-data"]

    v100 = run_script(FAKE_CUDA, "7.0", default_build, *check, check=False)
    assert v100.returncode == 2, v100.output
    assert ("Error: GPU 0 (Tesla V100-SXM2-32GB, compute capability 7.0, sm_70) is visible, but PyTorch "
            in v100.stderr), v100.output
    assert f"has GPU code only for {FACTS['t00_arch_list_en']}: training would stop with 'no kernel image is " \
           "available'" in v100.stderr
    assert "Tutorial 0, step 3" in v100.stderr and "python check_env.py --require-gpu" in v100.stderr
    assert "Device check" not in v100.stdout and "Traceback" not in v100.output

    a100 = run_script(FAKE_CUDA, "8.0", default_build, *check, env={"FAKE_GPUS": "2"})
    assert "Device check: CUDA, 2 GPU(s) ran a first operation" in a100.stdout, a100.output

    # Capability fits on paper but the first operation fails: the error's first line, then the same advice.
    error = "CUDA error: no kernel image is available for execution on the device\nCUDA kernel errors might be ..."
    broken = run_script(FAKE_CUDA, "8.0", default_build, *check, env={"FAKE_CUDA_OP_ERROR": error}, check=False)
    assert broken.returncode == 2, broken.output
    assert ("GPU 0 (NVIDIA A100-SXM4-80GB, compute capability 8.0, sm_80): a first small operation failed with "
            "RuntimeError: CUDA error: no kernel image is available for execution on the device\n") in broken.stderr
    assert "might be" not in broken.stderr and "Tutorial 0, step 3" in broken.stderr

    # Inside torchrun each process checks its own GPU before joining the process group, and says so itself.
    ranks = torchrun(run_script, FAKE_CUDA, "7.0", default_build, "train_ddp.py", "--data", "data",
                     env={"FAKE_GPUS": "2", "OMP_NUM_THREADS": "1"}, check=False)
    assert ranks.returncode != 0 and "Device: cuda" not in ranks.stdout, ranks.output
    for rank in (0, 1):
        assert f"Error (rank {rank}): GPU {rank} (Tesla V100-SXM2-32GB" in ranks.stderr, ranks.output
    assert "exitcode  : 2" in ranks.stderr


def test_build_architectures_a_gpu_can_run(run_script):
    """train_ddp.runs_on: machine code for the same major version and a lower or equal minor one, PTX for every
    later GPU, "a" code only for its exact GPU."""
    pypi = ["sm_75", "sm_80", "sm_86", "sm_90", "sm_100", "sm_120"]
    cases = [(["sm_80"], (8, 6), True), (["sm_86"], (8, 0), False), (["sm_80"], (9, 0), False),
             (["sm_80", "compute_80"], (9, 0), True), (["sm_90a"], (9, 0), True), (["sm_90a"], (10, 0), False),
             (pypi, (7, 0), False), (pypi, (12, 1), True), (["sm_100"], (10, 3), True),
             (["compute_120"], (10, 0), False)]
    code = ("import json, sys; sys.argv = ['x']; import train_ddp as t; "
            f"print(json.dumps([t.runs_on(a, tuple(c)) for a, c, _ in {[(a, list(c), w) for a, c, w in cases]!r}]))")
    got = json.loads(run_script("python", "-c", code).stdout)
    assert got == [want for _, _, want in cases]


def test_no_gpu_stops_unless_cpu_is_asked_for(tutorial, run_script, workdir):
    """PyTorch sees no GPU although the job was given two: exit 2 naming Tutorial 0's check, no CPU fallback."""
    fake_data(run_script, workdir / "data")
    given = {"CUDA_VISIBLE_DEVICES": "0,1", "OMP_NUM_THREADS": "1"}
    check = run_script("train_ddp.py", "--data", "data", "--check-data", env=given, check=False)
    assert check.returncode == 2, check.output
    assert "this job was given GPUs (CUDA_VISIBLE_DEVICES=0,1) but PyTorch" in check.stderr
    assert "python check_env.py --require-gpu" in check.stderr and "--device cpu" in check.stderr
    assert "Traceback" not in check.output

    run = torchrun(run_script, "train_ddp.py", "--data", "data", env=given, check=False)
    assert run.returncode != 0 and "Device: cpu" not in run.stdout, run.output
    assert run.stderr.count("python check_env.py --require-gpu") == 1, run.output  # rank 0 says it once
    assert "exitcode  : 2" in run.stderr  # every rank stopped with the script's code, which torchrun reports

    nothing = run_script("train_ddp.py", "--data", "data", "--check-data", check=False)
    assert nothing.returncode == 2 and "none was given to this job or app" in nothing.stderr, nothing.output

    # The batch script as a reader runs it on a node whose GPUs PyTorch cannot use.
    conda_stand_in(run_script.home, tutorial.env)
    job = run_script("job.sh", env=given, check=False, timeout=300)
    assert job.returncode == 2, job.output
    assert "GPUs of this job: 0,1; starting 2 process(es)" in job.stdout
    assert "python check_env.py --require-gpu" in job.stderr
    assert "Device:" not in job.stdout and "Finished" not in job.stdout


def test_an_error_in_training_ends_with_a_clear_message_and_exit_2(tutorial, run_script, workdir):
    """An error inside every rank: one line per process, exit code 2 (torchrun reports it), and job.sh ends
    with its own message and exit code 2 rather than torchrun's traceback and exit code 1."""
    fake_data(run_script, workdir / "data")
    with open(workdir / "data" / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump({"data": [1, 2, 3], "labels": [0]}, f)  # a valid pickle with images of the wrong size
    result = torchrun(run_script, "train_ddp.py", "--data", "data", "--device", "cpu",
                      env={"OMP_NUM_THREADS": "1"}, check=False)
    assert result.returncode != 0, result.output
    for rank in (0, 1):
        assert f"Error (rank {rank}): ValueError: cannot reshape array" in result.stderr, result.output
    assert "at train_ddp.py line" in result.stderr and "exitcode  : 2" in result.stderr
    assert 'train_ddp.py", line' not in result.stderr  # no Python traceback of the script (torchrun's own stays)

    (workdir / "data" / "cifar-10-batches-py" / "data_batch_1").write_bytes(b"not a pickle")
    damaged = torchrun(run_script, "train_ddp.py", "--data", "data", "--device", "cpu", procs=1, check=False)
    assert "Error: data/cifar-10-batches-py/data_batch_1 is damaged (UnpicklingError)" in damaged.stderr, \
        damaged.output
    assert "python download_cifar10.py --root data" in damaged.stderr

    # job.sh's --check-data reads every file, so a damaged file stops the job before torchrun. A mistake only
    # training meets (a label outside 0..9) passes it: every rank stops, then job.sh's own line and exit code 2.
    fake_data(run_script, workdir / "data", 8, 16, "--label-out-of-range")
    conda_stand_in(run_script.home, tutorial.env)
    job = run_script("job.sh", env={"TRAIN_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}, check=False, timeout=300)
    assert job.returncode == 2, job.output
    assert "CIFAR-10 files found" in job.stdout
    assert job.stderr.rstrip().endswith("Error: training failed; the lines starting with 'Error' above say why.")
    assert "Error (rank 0): IndexError: Target 12 is out of bounds" in job.stderr, job.output
    assert "Finished" not in job.stdout


def test_download_refuses_what_is_not_cifar10_and_says_where_to_run_it(run_script, tutorial, workdir, tmp_path):
    """An archive of CIFAR-10's size (the page's "about 170 MB" is the script's progress line) that is not
    CIFAR-10 is deleted, nothing unpacked; an unreachable address names the login/data node; an existing folder
    that is not CIFAR-10 is named with the command that removes it."""
    archive = tmp_path / "cifar-10-python.tar.gz"
    with open(archive, "wb") as f:
        f.truncate(170_498_071)  # the size of the real cifar-10-python.tar.gz, in bytes
    bad = run_script("download_cifar10.py", "--root", "data", "--url", archive.as_uri(), check=False)
    assert bad.returncode == 2, bad.output
    assert "damaged or not CIFAR-10" in bad.stderr and "c58f30108f718f92721af3b95e74349a" in bad.stderr
    assert list((workdir / "data").iterdir()) == []  # the bad download is deleted, nothing unpacked
    assert bad.stdout.splitlines()[-1] == "  170 / 170 MB", bad.stdout
    for lang, words in (("zh", "约 170 MB"), ("en", "about 170 MB")):
        assert words in tutorial.page_text(lang) and "163" not in tutorial.page_text(lang), lang
    assert "about 170 MB" in (tutorial.folder / "download_cifar10.py").read_text()

    absent = (tmp_path / "absent.tar.gz").as_uri()
    offline = run_script("download_cifar10.py", "--root", "data", "--url", absent, check=False)
    assert offline.returncode == 2, offline.output
    assert "could not download" in offline.stderr and "login/data node" in offline.stderr
    assert "Traceback" not in offline.output

    fake_data(run_script, workdir / "data")
    other = run_script("download_cifar10.py", "--root", "data", check=False)
    assert other.returncode == 2, other.output
    assert "missing or differ from CIFAR-10: data_batch_1" in other.stderr
    assert "rm -r data/cifar-10-batches-py" in other.stderr


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


def test_job_script_stops_early_without_data(tutorial, run_script, workdir):
    conda_stand_in(run_script.home, tutorial.env)
    job = run_script("job.sh", check=False)
    assert job.returncode == 2, job.output
    assert "python download_cifar10.py --root data" in job.stderr
    assert "starting 1 process(es)" in job.stdout  # no GPU listed: one process
    assert "Finished" not in job.stdout and "Device:" not in job.stdout  # torchrun never started


def test_batch_job_runs_under_slurm(slurm, tutorial, run_script, workdir):
    fake_data(run_script, workdir / "data", per_batch=4, test=8)
    # The test node's GPUs are declared, not real: PyTorch sees none, so the job trains on the CPU only because
    # the test asks for it as job.sh documents (TRAIN_DEVICE=cpu); without it the job fails (the test below).
    job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       env={"TRAIN_DEVICE": "cpu"}, timeout=600)
    job.assert_ended("COMPLETED", "0:0", output="resnet-ddp-%j.out")
    assert job.fields["TresPerNode"] == "gres:gpu:2" and job.fields["JobName"] == "resnet-ddp"
    output = job.output
    # The two GPUs of the allocation (fake ones here) give two processes; without CUDA they use gloo.
    assert "starting 2 process(es)" in output, output
    assert "Device asked for: cpu (TRAIN_DEVICE)" in output
    assert "2 process(es), backend gloo" in output
    check_epochs(output, epochs=5, processes=2)
    assert re.search(r"^Done: 5 epochs in ", output, re.M) and "Finished" in output
    assert (workdir / "resnet18_cifar10.pt").stat().st_size > 40_000_000
    record_or_compare(tutorial.folder / "example_slurm_cpu.txt", session_text(job, workdir.parent / "slurm-home"),
                      same=same_shape)
    print(f"\n--- sbatch\n{job.sbatch}--- squeue\n{job.squeue}\n--- sacct\n{job.sacct}\n--- output\n{output}")


@pytest.mark.parametrize(("data", "record", "expected"), [
    (True, "example_slurm_no_gpu.txt", ["this job was given GPUs (", "python check_env.py --require-gpu"]),
    (False, "example_slurm_no_data.txt", ["python download_cifar10.py --root data"]),
], ids=["gpus-pytorch-cannot-use", "no-data"])
def test_batch_job_fails_clearly(slurm, tutorial, run_script, workdir, data, record, expected):
    """FAILED 2:0 naming the fix: the job was given GPUs (Slurm's gres) that PyTorch cannot use, or no data."""
    if data:
        fake_data(run_script, workdir / "data", per_batch=4, test=8)
    job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       timeout=600)
    job.assert_ended("FAILED", "2:0")
    assert all(text in job.output for text in expected), job.output
    assert "Device:" not in job.output and "Finished" not in job.output
    assert "FAILED" in job.sacct and "2:0" in job.sacct
    record_or_compare(tutorial.folder / record, session_text(job, workdir.parent / "slurm-home"), same=same_shape)


def test_same_shape_tells_runs_apart():
    assert same_shape("Job 1 on vm, started Sun\nepoch 1/5  loss 2.4404", "Job 7 on ci, started Mon\nepoch 1/5  loss 9.1")
    assert not same_shape("State COMPLETED 0:0", "State FAILED 2:0")
    assert same_shape("  3 gpu resnet-d root  R  0:00  1 localhost", "  1 gpu resnet-d root PD  0:00  1 (None)")


def test_page_shows_the_recorded_slurm_runs(tutorial):
    zero = other_tutorial(0).slug
    for lang in ("zh", "en"):
        page = tutorial.page_text(lang)
        for name in ("example_slurm_cpu.txt", "example_slurm_no_gpu.txt", "example_slurm_no_data.txt",
                     "example_output_cpu.txt"):
            assert f'--8<-- "tutorials/{tutorial.slug}/{name}"' in page, (lang, name)
        assert "$ cat resnet-ddp-1.out" not in page  # no hand-copied run left on the page
        # The no-kernel entry links Tutorial 0's build choice and its troubleshooting entry.
        assert "{#err-no-kernel-image}" in page and f"{zero}/index.md#choose-build" in page
        assert f"{zero}/index.md#err-gpu-check-failed" in page
    # Issue 25: "two more things differ" introduced a list of four; the list is not counted any more.
    assert "还有两处不同" not in tutorial.page_text("zh") and "Two more things differ" not in tutorial.page_text("en")


@pytest.mark.gpu
def test_two_gpus_train_with_nccl(run_script, workdir):
    """On a machine with two GPUs: the page's two-GPU command, unchanged but for tiny data and 2 epochs."""
    count = run_script("python", "-c", "import torch; print(torch.cuda.device_count())", gpu=True)
    if int(count.stdout.strip() or 0) < 2:
        pytest.skip(f"needs 2 GPUs, PyTorch sees {count.stdout.strip()}")
    fake_data(run_script, workdir / "data")
    result = torchrun(run_script, "train_ddp.py", "--data", "data", "--epochs", "2", "--batch-size", "16",
                      "--out", "out/model.pt", timeout=600, gpu=True)
    assert re.search(r"^Device: cuda \(.+\), 2 process\(es\), backend nccl$", result.stdout, re.M), result.output
    check_epochs(result.stdout, epochs=2, processes=2)
    assert (workdir / "out" / "model.pt").stat().st_size > 40_000_000


def test_page_walk(page_walk, slurm, tutorial, run_script):
    """The page's blocks in page order: files and packages on the login node; CIFAR-10 itself cannot be
    downloaded here, so after the install the test writes generated data where download_cifar10.py puts it;
    both trainings in the VSCode app (a compute node: the walk's GPUs exist for nvidia-smi only, PyTorch sees
    none, so the test asks for the CPU the way the script documents, TRAIN_DEVICE=cpu); the partition written into
    job.sh; the job submitted with the default device, which the test Slurm's fake GPUs make fail clearly."""
    walk = page_walk(slurm=slurm, typed={"<分区名>": slurm.partition},
                     env={"compute": {"TRAIN_DEVICE": "cpu", "OMP_NUM_THREADS": "1"}, "login": dict(CA_BUNDLE)})
    walk.install_conda()
    folder = walk.home / "scow-tutorials" / tutorial.slug  # the page's ~/scow-tutorials/NN-slug
    walk.after = {1: lambda: fake_data(run_script, folder / "data", per_batch=4, test=8), 7: walk.wait_for_jobs}
    result = walk.run()
    assert result.run_count == 7
    for number, processes in ((3, 1), (4, 2)):
        out = result.output(number)
        assert f"Device: cpu (CPU), {processes} process(es), backend gloo" in out, out
        check_epochs(out, epochs=5, processes=processes)
    assert (folder / "resnet18_1gpu.pt").is_file() and (folder / "resnet18_2gpu.pt").is_file()
    assert result.output(5).strip() == f"#SBATCH -p {slurm.partition}"
    job = result.output(8)
    assert "Device asked for: cuda (TRAIN_DEVICE)" in job and "python check_env.py --require-gpu" in job, job
    assert "Finished" not in job
    page_walk.same_blocks("en", typed={"zh": {"<分区名>": "gpu"}, "en": {"<partition name>": "gpu"}})
