"""Tutorial 1 (house prices): train.py, its CSV checks, and job.sh as a batch job under a real Slurm.

Kaggle's data may not be redistributed: the tests write a CSV with the same 81-column layout and made-up
values (tests/fixtures/t01_fake_train_csv.py). The outputs the page shows (the job's output file, what
sbatch / squeue / the completion record printed, the learning curve) are recorded from
test_job_runs_under_slurm: run it with TUTORIAL_RECORD=1 to rewrite them (``record_or_compare``); otherwise the
test checks that the page's recorded numbers are what the run gives now (within a small tolerance) and that the
recorded scheduler session has the same lines, numbers aside.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import tutorial_fixtures
from tutorial_fixtures import record_or_compare

FIXTURES = Path(__file__).parent / "fixtures"
FAST = {"OMP_NUM_THREADS": "1"}  # a tiny network: one CPU thread is fastest on a busy machine
# The walk's pip stand-in (uv) resolves as tools/envs.py does, which also asks the package index named in pip's
# configuration; the walk's login shell lacks this machine's CA bundle setting, so it is passed on where set
# (a request to the lead: tests/page_walk.py could pass it itself).
CA_BUNDLE = {k: os.environ[k] for k in ("SSL_CERT_FILE", "SSL_CERT_DIR") if k in os.environ}

SEARCH_PROBES = {"zh": ["房价预测", "学习曲线"], "en": ["house prices", "learning curve"]}

NUMBER = r"([0-9]+\.[0-9]+)"


def make_csv(run_script, path: Path, *args: str) -> dict:
    return json.loads(run_script(str(FIXTURES / "t01_fake_train_csv.py"), str(path), *args).stdout)


def scores(output: str) -> dict[str, float]:
    baseline = re.search(rf"Baseline .*valid log-RMSE {NUMBER}", output)
    final = re.search(rf"Final validation log-RMSE: {NUMBER}", output)
    assert baseline and final, output
    return {"baseline": float(baseline.group(1)), "final": float(final.group(1))}


def test_fake_csv_has_the_columns_train_py_expects(tutorial, run_script, workdir):
    summary = make_csv(run_script, workdir / "train.csv", "--rows", "40", "--broken")
    assert summary["rows"] == 40 and len(summary["columns"]) == 81 and summary["has_gaps"]
    block = re.search(r"KAGGLE_COLUMNS = \[(.*?)\]", (tutorial.folder / "train.py").read_text(), re.S).group(1)
    assert re.findall(r'"([^"]+)"', block) == summary["columns"]

    # The mistakes the page's troubleshooting lists end with exit code 2 and a message, not a traceback.
    result = run_script("train.py", "--data", "test.csv", "--plot", "p.png", env=FAST, check=False)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert "missing columns: SalePrice" in result.output and "This looks like test.csv" in result.output
    assert not (workdir / "p.png").exists()

    result = run_script("train.py", "--data", "wrong_layout.csv", env=FAST, check=False)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert "missing columns: GrLivArea, PoolQC" in result.output
    assert "unexpected columns: price" in result.output

    result = run_script("train.py", "--data", "train.csv", "--epochs", "1", "--device", "cuda", env=FAST,
                        check=False)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert "You asked for --device cuda, but PyTorch sees no GPU" in result.output


def test_kaggle_zip_and_an_empty_column(run_script, workdir):
    """--data pointing at the zip the Kaggle command line downloads ends in the unzip command, not a pandas
    traceback; a numeric column with no value at all is left out and named (not counted among the features, and
    no raw sklearn warning about it)."""
    make_csv(run_script, workdir / "train.csv", "--rows", "60")
    archive = workdir / "house-prices-advanced-regression-techniques.zip"
    with zipfile.ZipFile(archive, "w") as zipped:  # Kaggle's zip holds four files; pandas reads only one-file zips
        zipped.write(workdir / "train.csv", "train.csv")
        zipped.writestr("test.csv", "Id\n1461\n")
        zipped.writestr("data_description.txt", "MSSubClass: the building class\n")
    result = run_script("train.py", "--data", archive.name, env=FAST, check=False)
    assert result.returncode == 2 and "Traceback" not in result.output, result.output
    assert "is a zip archive" in result.output and f"unzip -o {archive.name} train.csv" in result.output

    with open(workdir / "train.csv", newline="") as src, open(workdir / "empty.csv", "w", newline="") as dst:
        rows = csv.DictReader(src)
        out = csv.DictWriter(dst, rows.fieldnames)
        out.writeheader()
        for row in rows:
            out.writerow({**row, "PoolArea": ""})
    result = run_script("train.py", "--data", "empty.csv", "--epochs", "1", env=FAST)
    assert "Note: PoolArea has no value in the training part" in result.stdout, result.output
    assert "Data: 60 rows, 35 numeric features;" in result.stdout, result.output
    assert "Warning" not in result.output and "Skipping features" not in result.output, result.output


def test_upstream_settings_underfit(run_script, workdir):
    """The page's exercise: the upstream settings (lr 0.1, weight decay 5) only predict the average price."""
    make_csv(run_script, workdir / "train.csv")
    result = run_script("train.py", "--data", "train.csv", "--lr", "0.1", "--weight-decay", "5", "--epochs", "20",
                        "--plot", "underfit.png", env=FAST)
    s = scores(result.stdout)
    assert abs(s["final"] - s["baseline"]) < 0.05 * s["baseline"], result.stdout
    assert len(re.findall(r"^epoch +\d+/20 ", result.stdout, re.M)) == 11
    assert (workdir / "underfit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def normalise(text: str, home: Path, spool: Path) -> str:
    """The test's temporary HOME shown as ~, its Slurm spool folder as <SlurmdSpoolDir>."""
    return text.replace(str(home), "~").replace(str(spool), "<SlurmdSpoolDir>")


def numbers_agree(recorded: str, now: str, tolerance: float = 0.03) -> list[str]:
    """Lines holding log-RMSE values: the same lines, numbers within ``tolerance`` (CPU arithmetic may differ)."""
    pick = re.compile(r"^(?:Baseline|epoch|Final).*$", re.M)
    rec_lines, now_lines = pick.findall(recorded), pick.findall(now)
    problems = []
    if len(rec_lines) != len(now_lines):
        return [f"recorded {len(rec_lines)} score lines, the run printed {len(now_lines)}"]
    for a, b in zip(rec_lines, now_lines):
        xa, xb = re.findall(NUMBER, a), re.findall(NUMBER, b)
        if re.sub(NUMBER, "#", a) != re.sub(NUMBER, "#", b) or any(
                abs(float(p) - float(q)) > tolerance for p, q in zip(xa, xb)):
            problems.append(f"recorded: {a}\n     now: {b}")
    return problems


def same_session(recorded: str, now: str) -> bool:
    """The scheduler session has the same lines and words; job ids, times and column widths may differ."""
    def shape(text: str) -> list[str]:
        lines = [" ".join(re.sub(r"\d+", "#", line).split()) for line in text.splitlines()]
        # squeue may catch the job pending ("PD ... (None)") or running ("R ... localhost"): either is its shape.
        return [re.sub(r" (PD|R|CG) #:# # \S+$", " ST #:# # NODE", line) for line in lines]
    return shape(recorded) == shape(now)


def test_record_switch_is_the_shared_one(tutorial):
    """One re-record switch for the whole site (TUTORIAL_RECORD=1), none of this module's own."""
    source = Path(__file__).read_text(encoding="utf-8")
    assert "T01_" + "RECORD" not in source and "record_or_compare(" in source
    assert same_session("Submitted batch job 7\n  7 gpu R 0:01", "Submitted batch job 12\n 12 gpu R  0:00")
    assert not same_session("7 gpu COMPLETED 0:0", "7 gpu FAILED 2:0")


def test_job_runs_under_slurm(slurm, tutorial, workdir, run_script):
    """job.sh as published, with only <partition> filled, runs under Slurm to COMPLETED; a broken copy FAILS."""
    make_csv(run_script, workdir / "train.csv")
    job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       env=FAST, timeout=600)
    job.assert_ended("COMPLETED", "0:0", output="house-prices-%j.out")
    # Every directive reached the scheduler.
    f = job.fields
    assert (f["JobName"], f["Partition"], f["NumNodes"], f["CPUs/Task"], f["TimeLimit"]) == \
        ("house-prices", slurm.partition, "1", "4", "00:30:00"), f
    assert f["TresPerNode"] == "gres:gpu:1"
    # The script's own conda lines activated the tutorial's environment.
    home = workdir.parent / "slurm-home"
    out = job.output
    assert f"Python: {home}/miniconda3/envs/torch/bin/python" in out, out
    for words in ("Device: cpu", "Data: 1460 rows, 36 numeric features; 1168 for training, 292 for validation",
                  "Training: 100 epochs, batch size 32, Adam lr 0.001, weight decay 0.01",
                  "Learning curve saved to learning_curve.png", "Finished"):
        assert words in out, out
    s = scores(out)
    assert s["final"] < 0.4 * s["baseline"], out  # the defaults learn
    assert (workdir / "learning_curve.png").stat().st_size > 5000
    assert "house-pr" in job.squeue and "COMPLETED" in job.sacct and "0:0" in job.sacct

    # A reader's typo in the data path: the job FAILS with train.py's exit code 2.
    broken = workdir / "job-broken.sh"
    broken.write_text(job.script.read_text().replace("--data train.csv", "--data trian.csv"))
    bad = slurm.submit("job-broken.sh", cwd=workdir, tutorial=tutorial, env=FAST, timeout=600)
    bad.assert_ended("FAILED", "2:0")
    assert "Data file not found: trian.csv" in bad.output and "Finished" not in bad.output
    assert "FAILED" in bad.sacct and "2:0" in bad.sacct

    folder = tutorial.folder
    recorded_output = normalise(out, home, slurm.base / "spool")
    session = "\n".join([
        "$ sbatch job.sh", job.sbatch.rstrip(),
        "$ squeue", job.squeue,
        f"# no sacct here: Slurm's completion record of job {job.id}, in sacct's default columns", job.sacct,
        f"# the same for job {bad.id}, the copy with --data trian.csv", bad.sacct,
    ]) + "\n"
    record_or_compare(folder / "example_job_output.txt", recorded_output,
                      same=lambda recorded, now: not numbers_agree(recorded, now))
    record_or_compare(folder / "example_slurm_session.txt", session, same=same_session)
    if tutorial_fixtures.RECORD:
        shutil.copy2(workdir / "learning_curve.png", folder / "example_learning_curve.png")
    assert (folder / "example_learning_curve.png").stat().st_size > 5000


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_shows_the_recorded_outputs(tutorial, lang):
    page = (tutorial.folder / ("index.md" if lang == "zh" else "index.en.md")).read_text(encoding="utf-8")
    for name in ("example_job_output.txt", "example_slurm_session.txt"):
        assert f'--8<-- "tutorials/{tutorial.slug}/{name}"' in page
    assert "example_learning_curve.png" in page
    # No GPU run was recorded: the only training output shown is the CPU run's (no "Device: cuda" in a text block).
    blocks = re.findall(r"```text\n(.*?)```", page, re.S)
    assert not [b for b in blocks if "Device: cuda" in b]
    assert "Device: cpu" in (tutorial.folder / "example_job_output.txt").read_text()
    # The directives are #SBATCH lines, which both CraneSched and Slurm read.
    job = (tutorial.folder / "job.sh").read_text()
    assert re.findall(r"^#SBATCH ", job, re.M) and not re.findall(r"^#CBATCH", job, re.M)


def test_no_kaggle_csv_in_the_folder(tutorial):
    assert not list(tutorial.folder.rglob("*.csv"))


@pytest.mark.gpu
def test_train_on_a_real_gpu(run_script, workdir):
    """On a GPU node (make verify-gpu): train.py picks CUDA by itself and names the GPU."""
    make_csv(run_script, workdir / "train.csv")
    result = run_script("train.py", "--data", "train.csv", "--epochs", "5", "--plot", "gpu.png", gpu=True)
    assert re.search(r"^Device: cuda \(.+\)$", result.stdout, re.M), result.stdout
    assert "Training took" in result.stdout and "on cuda" in result.stdout
    s = scores(result.stdout)
    assert s["final"] < s["baseline"], result.stdout


def test_page_walk(page_walk, slurm, tutorial, run_script):
    """The page's blocks in page order: download and install on the login node, train in the VSCode app (a compute
    node, no network), the partition written into job.sh, the job submitted to Slurm, its output read, the
    exercise run. The reader's upload of Kaggle's train.csv is modelled by writing the generated CSV."""
    walk = page_walk(slurm=slurm, typed={"<分区名>": slurm.partition}, env={"compute": FAST, "login": {**FAST, **CA_BUNDLE}})
    walk.install_conda()
    folder = walk.home / "scow-tutorials" / tutorial.slug  # the page's ~/scow-tutorials/NN-slug
    # A smaller table than Kaggle's 1,460 rows: the walk trains three times (app, job, exercise) with the page's
    # defaults; what the numbers of a full-size run look like is checked by the tests above.
    walk.after = {1: lambda: make_csv(run_script, folder / "train.csv", "--rows", "300"), 8: walk.wait_for_jobs}
    result = walk.run()
    assert result.run_count == 7
    trained = result.output(5)
    assert "Device: cpu" in trained and "Final validation log-RMSE:" in trained, trained
    assert result.output(6).strip() == f"#SBATCH -p {slurm.partition}"
    assert re.search(r"^Submitted batch job \d+$", result.output(8), re.M), result.output(8)
    job = result.output(9)
    assert f"Python: {walk.home}/miniconda3/envs/torch/bin/python" in job and "Finished" in job, job
    assert "Learning curve saved to underfit.png" in result.output(10)
    assert (folder / "learning_curve.png").is_file() and (folder / "underfit.png").is_file()
    page_walk.same_blocks("en", typed={"zh": {"<分区名>": "gpu"}, "en": {"<partition name>": "gpu"}})
