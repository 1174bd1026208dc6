"""Tutorial 7 (BERT on GLUE MRPC): download.py, train.py, predict.py on CPU, and job.sh under a real Slurm.

Nothing is downloaded: tests/fixtures/t07_tiny_bert_glue.py builds a tiny random BERT (with a written
vocab.txt) and a folder laid out like the Hub's nyu-mll/glue repository (README configs + MRPC parquet files
with MRPC's columns and labels). download.py loads both exactly as it loads the Hub ids and saves them in the
on-disk format train.py reads (save_pretrained, DatasetDict.save_to_disk), so the whole chain of the page
runs: download -> train (one epoch) -> predict, and the batch job on the saved folders.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tutorial_fixtures import isolated_env

FIXTURES = Path(__file__).parent / "fixtures"
FAST = ("--batch-size", "16", "--lr", "1e-3")

SEARCH_PROBES = {"zh": ["BERT 微调", "MRPC 句子对"], "en": ["fine-tune BERT", "MRPC paraphrase"]}

EPOCH = re.compile(r"^epoch (\d+)/(\d+)  train loss ([0-9.]+)  valid loss ([0-9.]+)  "
                   r"accuracy ([0-9.]+)  F1 ([0-9.]+)", re.M)
PREDICTION = re.compile(r"^Prediction: (equivalent|not_equivalent) \(probability ([0-9.]+)\)$", re.M)


@pytest.fixture(scope="module")
def hub(tutorial, tmp_path_factory) -> Path:
    """Stand-ins for google-bert/bert-base-uncased and nyu-mll/glue, built once for the module."""
    out = tmp_path_factory.mktemp("t07-hub")
    home = out / "home"
    home.mkdir()
    subprocess.run([str(tutorial.python), str(FIXTURES / "t07_tiny_bert_glue.py"), str(out)], check=True,
                   capture_output=True, text=True, timeout=600,
                   env=isolated_env(home, tutorial.env / "bin", None))
    return out


def download(run_script, hub: Path):
    result = run_script("download.py", "--model", str(hub / "bert"), "--dataset", str(hub / "glue"))
    assert "Saved the dataset to glue-mrpc: train 96, validation 32, test 16 sentence pairs" in result.stdout
    return result


def check_epochs(output: str, epochs: int) -> list[tuple]:
    rows = EPOCH.findall(output)
    assert [int(r[0]) for r in rows] == list(range(1, epochs + 1)), output
    for _, total, train_loss, valid_loss, accuracy, f1 in rows:
        assert int(total) == epochs
        assert 0 < float(train_loss) < 5 and 0 < float(valid_loss) < 5
        assert 0 <= float(accuracy) <= 1 and 0 <= float(f1) <= 1
    return rows


def test_download_train_predict(run_script, workdir, hub):
    saved = download(run_script, hub)
    assert "Saved the model (" in saved.stdout
    assert (workdir / "bert-base-uncased" / "config.json").is_file()
    assert (workdir / "bert-base-uncased" / "model.safetensors").is_file()
    assert (workdir / "glue-mrpc" / "dataset_dict.json").is_file()

    train = run_script("train.py", "--epochs", "1", *FAST)
    assert "Traceback" not in train.output
    assert "Device: cpu (CPU), precision fp32" in train.stdout
    assert "Data: 96 training pairs, 32 validation pairs" in train.stdout
    assert "Training: 1 epoch x 6 steps, batch size 16, AdamW lr 0.001, 1 warm-up steps then linear decay" \
        in train.stdout
    (_, _, _, _, accuracy, f1), = check_epochs(train.stdout, 1)
    assert "Model and tokenizer saved to bert-mrpc" in train.stdout
    model = workdir / "bert-mrpc"
    for name in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "metrics.json"):
        assert (model / name).is_file(), name
    metrics = json.loads((model / "metrics.json").read_text())
    assert metrics["epoch"] == 1 and metrics["precision"] == "fp32"
    assert metrics["accuracy"] == pytest.approx(float(accuracy), abs=1e-4)
    assert metrics["f1"] == pytest.approx(float(f1), abs=1e-4)
    config = json.loads((model / "config.json").read_text())
    assert config["id2label"] == {"0": "not_equivalent", "1": "equivalent"}

    predict = run_script("predict.py", "The bank said higher profits on monday.",
                         "The bank stated bigger profits on monday.")
    (label, probability), = PREDICTION.findall(predict.stdout)
    assert 0.5 <= float(probability) <= 1
    shown = dict(re.findall(r"^ *(\w+): ([0-9.]+)$", predict.stdout, re.M))
    assert set(shown) == {"equivalent", "not_equivalent"}
    assert sum(map(float, shown.values())) == pytest.approx(1, abs=0.002)


def test_clear_errors(run_script, workdir):
    no_model = run_script("train.py", check=False)
    assert no_model.returncode == 2
    assert "no model in bert-base-uncased" in no_model.stderr and "download.py" in no_model.stderr

    (workdir / "bert-base-uncased").mkdir()
    (workdir / "bert-base-uncased" / "config.json").write_text("{}")
    no_data = run_script("train.py", check=False)
    assert no_data.returncode == 2
    assert "no saved dataset in glue-mrpc" in no_data.stderr and "download.py" in no_data.stderr

    no_trained = run_script("predict.py", "a", "b", check=False)
    assert no_trained.returncode == 2 and "no trained model in bert-mrpc" in no_trained.stderr

    # download.py where there is no internet (HF_HUB_OFFLINE=1 here, like a compute node).
    offline = run_script("download.py", check=False)
    assert offline.returncode == 2
    assert "google-bert/bert-base-uncased" in offline.stderr
    assert "login/data node" in offline.stderr and "HF_ENDPOINT" in offline.stderr
    for output in (no_model, no_data, no_trained, offline):
        assert "Traceback" not in output.output


def test_batch_job_under_slurm(slurm, tutorial, run_script, workdir, hub):
    """job.sh as published (only <partition> filled) trains on the saved folders and predicts; COMPLETED."""
    download(run_script, hub)
    job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       timeout=600)
    assert job.state == "COMPLETED" and job.exit_code == "0:0", job.report()
    assert job.sbatch == f"Submitted batch job {job.id}\n" and not job.sbatch_stderr, job.report()
    f = job.fields
    assert (f["JobName"], f["Partition"], f["NumNodes"], f["CPUs/Task"], f["TimeLimit"]) == \
        ("bert-mrpc", slurm.partition, "1", "4", "01:00:00"), f
    assert f["TresPerNode"] == "gres:gpu:1"
    assert job.output_path == workdir / f"bert-mrpc-{job.id}.out"
    out = job.output
    assert "/miniconda3/envs/torch/bin/python" in out, out
    check_epochs(out, 3)
    for words in ("Device: cpu", "Best epoch", "Model and tokenizer saved to bert-mrpc", "Prediction: ",
                  "Finished"):
        assert words in out, out
    assert (workdir / "bert-mrpc" / "metrics.json").is_file()
    assert "COMPLETED" in job.sacct and "0:0" in job.sacct
    if os.environ.get("T07_RECORD"):  # the page shows this run: T07_RECORD=file.txt writes it there
        shown = re.sub(r"\x1b\[[0-9;]*m", "", out).replace(str(workdir.parent), "<tmp>")  # no bold codes
        shown = "\n".join(line.rstrip() for line in shown.splitlines())
        Path(os.environ["T07_RECORD"]).write_text("\n".join([
            "$ sbatch job.sh", job.sbatch.rstrip(), "", "$ squeue", job.squeue, "", job.sacct, "",
            f"$ cat bert-mrpc-{job.id}.out", shown]) + "\n")

    # The same job in a folder where download.py was never run: FAILED with train.py's exit code 2.
    empty = workdir.parent / "no-data"
    empty.mkdir()
    for name in ("job.sh", "train.py", "predict.py"):
        shutil.copy2(tutorial.folder / name, empty / name)
    bad = slurm.submit("job.sh", cwd=empty, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       timeout=600)
    assert bad.state == "FAILED" and bad.exit_code == "2:0", bad.report()
    assert "download.py" in bad.output and "Finished" not in bad.output
