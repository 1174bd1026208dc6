"""Tutorial 7 (BERT on GLUE MRPC): download.py, train.py, predict.py on CPU, and job.sh under a real Slurm.

Nothing is downloaded: tests/fixtures/t07_tiny_bert_glue.py builds a tiny random BERT (with a WordPiece
tokenizer that knows every generated word) and a folder laid out like the Hub's nyu-mll/glue repository (README
configs + MRPC parquet files with MRPC's columns and labels). download.py loads both exactly as it loads the Hub
ids and saves them in the on-disk format train.py reads (save_pretrained, DatasetDict.save_to_disk), so the whole
chain of the page runs: download -> train (one epoch) -> predict, and the batch job on the saved folders.

The choice of precision on a GPU is tested with tests/fixtures/t07_fake_cuda.py (torch told it has a GPU of a
given compute capability; the run itself stays on the CPU); the tests marked ``gpu`` run train.py on a real one.
The batch job's session the page shows is recorded by test_batch_job_under_slurm (``record_or_compare``;
re-record with TUTORIAL_RECORD=1).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.t07_helpers import (
    BAD_TOKENIZER,
    CA_BUNDLE,
    FAST,
    PREDICTION,
    XET_PROBE,
    check_epochs,
    download,
    fake_gpu_run,
    same_session,
)
from tutorial_fixtures import facts, isolated_env, record_or_compare

FACTS = facts()

FIXTURES = Path(__file__).parent / "fixtures"
SEARCH_PROBES = {"zh": ["BERT 微调", "MRPC 句子对"], "en": ["fine-tune BERT", "MRPC paraphrase"]}


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


def test_fixture_tokenizer_knows_the_words(run_script, hub):
    """The tiny BERT's tokenizer turns the generated sentences into real word ids, not [UNK] (with Transformers 5,
    BertTokenizerFast(vocab_file=...) silently made a 5-token vocabulary and every word was [UNK])."""
    code = ("import json, sys; from datasets import load_dataset; from transformers import AutoTokenizer\n"
            "tok = AutoTokenizer.from_pretrained(sys.argv[1])\n"
            "data = load_dataset(sys.argv[2], 'mrpc', split='train')\n"
            "ids = tok(data[0]['sentence1'], data[0]['sentence2'])['input_ids']\n"
            "print(json.dumps({'ids': ids, 'unk': tok.unk_token_id, 'vocab': len(tok), 'text': data[0]['sentence1'],"
            " 'tokens': tok.convert_ids_to_tokens(ids)}))")
    result = json.loads(run_script("python", "-c", code, str(hub / "bert"), str(hub / "glue")).stdout)
    assert result["vocab"] > 40, result
    words = [t for t in result["tokens"] if t not in ("[CLS]", "[SEP]", ".")]
    assert len(words) >= 8 and result["unk"] not in result["ids"], result
    assert words[:len(result["text"].split())] == result["text"].lower().rstrip(".").split(), result


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
    # A model folder without tokenizer files: Transformers 5 would build an empty tokenizer ([UNK] everywhere).
    no_tokenizer = run_script("train.py", check=False)
    assert no_tokenizer.returncode == 2, no_tokenizer.output
    assert "no tokenizer in bert-base-uncased" in no_tokenizer.stderr
    assert "tokenizer.json" in no_tokenizer.stderr and "download.py" in no_tokenizer.stderr
    (workdir / "bert-base-uncased" / "tokenizer.json").write_text("{}")
    no_data = run_script("train.py", check=False)
    assert no_data.returncode == 2
    assert "no saved dataset in glue-mrpc" in no_data.stderr and "download.py" in no_data.stderr

    no_trained = run_script("predict.py", "a", "b", check=False)
    assert no_trained.returncode == 2 and "no trained model in bert-mrpc" in no_trained.stderr

    # download.py where there is no internet (HF_HUB_OFFLINE=1 here, like a compute node).
    offline = run_script("download.py", check=False)
    assert offline.returncode == 2
    assert FACTS["models"]["bert"] in offline.stderr
    assert "login/data node" in offline.stderr and "HF_ENDPOINT" in offline.stderr
    for option in ("--epochs", "--batch-size"):
        zero = run_script("train.py", option, "0", check=False)
        assert zero.returncode == 2 and f"{option} 0: must be at least 1" in zero.stderr, zero.output
        assert "Traceback" not in zero.output
    for output in (no_model, no_tokenizer, no_data, no_trained, offline):
        assert "Traceback" not in output.output


def test_a_tokenizer_that_cannot_read_the_pairs_is_refused(run_script, workdir, hub):
    """A 5-token tokenizer passes the file check and used to train to F1 0 with exit 0; one of the right size
    that knows none of the words did the same. Both stop before training, naming the folder and the fix."""
    download(run_script, hub)
    size = json.loads((workdir / "bert-base-uncased" / "config.json").read_text())["vocab_size"]
    expected = {"tiny": f"has 5 tokens, but the model's embedding has {size:,} rows",
                "foreign": "turns 100% of the tokens of the first 96 training pairs into [UNK]"}
    for kind, words in expected.items():
        run_script("python", "-c", BAD_TOKENIZER, "bert-base-uncased", kind, str(size))
        bad = run_script("train.py", "--epochs", "1", *FAST, check=False)
        assert bad.returncode == 2, (kind, bad.output[-3000:])
        assert "the tokenizer in bert-base-uncased" in bad.stderr and words in bad.stderr, (kind, bad.stderr)
        assert "download.py" in bad.stderr and "Traceback" not in bad.output, kind
        assert "Training:" not in bad.stdout and not (workdir / "bert-mrpc").exists(), kind


def test_download_through_a_mirror_turns_xet_off(run_script, hub):
    """With HF_ENDPOINT set (a mirror), download.py sets HF_HUB_DISABLE_XET=1 before huggingface_hub reads it:
    large files would otherwise take the Xet path straight to Hugging Face's servers."""
    args = ("--model", str(hub / "bert"), "--dataset", str(hub / "glue"))
    mirror = run_script("python", "-c", XET_PROBE, *args, env={"HF_ENDPOINT": FACTS["hf_mirror"]})
    assert "Xet disabled: True" in mirror.stdout and "HF_HUB_DISABLE_XET=1 set" in mirror.stdout, mirror.output
    direct = run_script("python", "-c", XET_PROBE, *args)
    assert "Xet disabled: False" in direct.stdout and "HF_HUB_DISABLE_XET" not in direct.stdout, direct.output


def test_mirror_blocks_turn_xet_off(tutorial):
    """Every block that sets a Hugging Face mirror also sets HF_HUB_DISABLE_XET=1, with the wording Tutorial 8
    uses (large files over Xet would bypass the mirror)."""
    for lang, why in (("zh", "`HF_HUB_DISABLE_XET=1` 必须和 `HF_ENDPOINT` 一起设置"),
                      ("en", "`HF_HUB_DISABLE_XET=1` must be set together with `HF_ENDPOINT`")):
        text = tutorial.page_text(lang)
        blocks = re.findall(r"```bash\n(.*?)```", text, re.S)
        mirrors = [b for b in blocks if "export HF_ENDPOINT=" in b]
        assert mirrors and all("export HF_HUB_DISABLE_XET=1" in b for b in mirrors), (lang, mirrors)
        assert why in text, lang


def test_bad_datasets_are_clear_errors(run_script, workdir, hub):
    """Label columns train.py cannot use, and an empty validation split: exit 2 naming the folder and the fix
    (before: AttributeError on .names, an IndexError inside Datasets, or training on hidden -1 labels)."""
    download(run_script, hub)
    run_script(str(FIXTURES / "t07_bad_data.py"), "glue-mrpc", "bad")
    expected = {
        "int-labels": "the label column of the train split is Value('int64'), not a ClassLabel",
        "string-labels": "the label column of the train split is Value('string'), not a ClassLabel",
        "hidden-labels": "the train split has labels [-1], outside 0..1",
        "empty-validation": "the validation split is empty (0 sentence pairs",
    }
    for name, words in expected.items():
        bad = run_script("train.py", "--data", f"bad/{name}", "--epochs", "1", *FAST, check=False)
        assert bad.returncode == 2, (name, bad.output[-3000:])
        assert f"Error: bad/{name}: " in bad.stderr and words in bad.stderr, (name, bad.stderr)
        assert "download.py" in bad.stderr and "Traceback" not in bad.output, name
        assert not (workdir / "bert-mrpc").exists()


def test_precision_follows_compute_capability(run_script, workdir, hub):
    """bf16 only from compute capability 8.0 on; fp16 with a GradScaler below, although torch.cuda.is_bf16_supported()
    answers True there too (the fake says True everywhere, as a real V100 or T4 does). One whole epoch runs for
    each precision (7.0: fp16 with the scaler, 8.0: bf16); the other capabilities stop after the setup, where the
    choice is printed and the scaler made."""
    download(run_script, hub)
    expected = {"7.0": ("Tesla V100-SXM2-32GB", "fp16"), "7.5": ("Tesla T4", "fp16"),
                "8.0": ("NVIDIA A100-SXM4-80GB", "bf16"), "9.0": ("NVIDIA H100 80GB HBM3", "bf16")}
    for capability, (name, precision) in expected.items():
        whole = capability in ("7.0", "8.0")
        result = fake_gpu_run(run_script, capability if whole else f"{capability}:setup")
        scaling = " with loss scaling (GradScaler)" if precision == "fp16" else ""
        line = f"Device: cuda ({name}, compute capability {capability}), precision {precision}{scaling}"
        assert line in result.stdout.splitlines(), (capability, result.stdout)
        assert f"fake-gpu: GradScaler enabled={precision == 'fp16'}" in result.stdout, capability
        if not whole:
            assert "fake-gpu: stopped before training" in result.stdout, capability
            continue
        check_epochs(result.stdout, 1)
        metrics = json.loads((workdir / "bert-mrpc" / "metrics.json").read_text())
        assert metrics["precision"] == precision, capability
    # Asking for bf16 on a GPU without bf16 tensor cores: a clear error, not a slow emulated run.
    forced = fake_gpu_run(run_script, "7.0", "--precision", "bf16", check=False)
    assert forced.returncode == 2 and "--precision bf16: this GPU has compute capability 7.0" in forced.stderr
    assert "Traceback" not in forced.output
    # fp16 chosen by hand on an A100 works too (with the scaler).
    manual = fake_gpu_run(run_script, "8.0:setup", "--precision", "fp16")
    assert "precision fp16 with loss scaling (GradScaler)" in manual.stdout


def test_record_switch_is_the_shared_one():
    """One re-record switch for the whole site (TUTORIAL_RECORD=1), none of this module's own."""
    source = Path(__file__).read_text(encoding="utf-8")
    assert "T07_" + "RECORD" not in source and "record_or_compare(" in source
    assert same_session("Job 3 on vm, started Sun Nov 29 14:38:11 UTC 2026\nepoch 1/3  F1 0.6667",
                        "Job 12 on node7, started Wed Dec  2 09:01:02 UTC 2026\nepoch 1/3  F1 0.5")
    assert not same_session("precision fp32", "precision bf16")
    assert same_session("classifier.bias | MISSING |\nclassifier.weight | MISSING |",
                        "classifier.weight | MISSING |\nclassifier.bias | MISSING |")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_shows_the_recorded_session(tutorial, lang):
    page = tutorial.page_text(lang)
    assert f'--8<-- "tutorials/{tutorial.slug}/example_job_session.txt"' in page
    recorded = (tutorial.folder / "example_job_session.txt").read_text()
    assert "Device: cpu (CPU), precision fp32" in recorded and "Finished" in recorded
    # No GPU run was recorded: no text block of the page shows a CUDA device line.
    assert not [b for b in re.findall(r"```text\n(.*?)```", page, re.S) if "Device: cuda" in b]


def test_batch_job_under_slurm(slurm, tutorial, run_script, workdir, hub):
    """job.sh as published (only <partition> filled) trains on the saved folders and predicts; COMPLETED."""
    download(run_script, hub)
    job = slurm.submit("job.sh", cwd=workdir, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       timeout=600)
    job.assert_ended("COMPLETED", "0:0", output="bert-mrpc-%j.out")
    f = job.fields
    assert (f["JobName"], f["Partition"], f["NumNodes"], f["CPUs/Task"], f["TimeLimit"]) == \
        ("bert-mrpc", slurm.partition, "1", "4", "01:00:00"), f
    assert f["TresPerNode"] == "gres:gpu:1"
    out = job.output
    assert "/miniconda3/envs/torch/bin/python" in out, out
    check_epochs(out, 3)
    for words in ("Device: cpu", "Best epoch", "Model and tokenizer saved to bert-mrpc", "Prediction: ",
                  "Finished"):
        assert words in out, out
    assert (workdir / "bert-mrpc" / "metrics.json").is_file()
    assert "COMPLETED" in job.sacct and "0:0" in job.sacct
    # The page shows this run (recorded with TUTORIAL_RECORD=1; otherwise compared, numbers and dates aside).
    shown = re.sub(r"\x1b\[[0-9;]*m", "", out).replace(str(workdir.parent), "<tmp>")  # no bold codes
    shown = "\n".join(line.rstrip() for line in shown.splitlines())
    session = "\n".join(["$ sbatch job.sh", job.sbatch.rstrip(), "", "$ squeue", job.squeue, "", job.sacct, "",
                         f"$ cat bert-mrpc-{job.id}.out", shown]) + "\n"
    record_or_compare(tutorial.folder / "example_job_session.txt", session, same=same_session)

    # The same job in a folder where download.py was never run: FAILED with train.py's exit code 2.
    empty = workdir.parent / "no-data"
    empty.mkdir()
    for name in ("job.sh", "train.py", "predict.py"):
        shutil.copy2(tutorial.folder / name, empty / name)
    bad = slurm.submit("job.sh", cwd=empty, tutorial=tutorial, fill={"<partition>": slurm.partition},
                       timeout=600)
    bad.assert_ended("FAILED", "2:0")
    assert "download.py" in bad.output and "Finished" not in bad.output


def test_page_walk(page_walk, slurm, tutorial, run_script, hub):
    """The page's blocks in page order: download the files and install on the login node, train in the VSCode app
    (a compute node without network), write the partition into job.sh, submit it to Slurm, read its output, and
    judge a pair with predict.py. The download from huggingface.co (marked none) is modelled by running the
    published download.py on the local stand-ins of the two Hub ids, in the page's folder, right after the install."""
    walk = page_walk(slurm=slurm, typed={"<分区名>": slurm.partition}, env={"login": CA_BUNDLE})
    walk.install_conda()
    folder = walk.home / "scow-tutorials" / tutorial.slug  # the page's ~/scow-tutorials/NN-slug

    def downloaded():
        run_script("download.py", "--model", str(hub / "bert"), "--dataset", str(hub / "glue"), cwd=folder)

    walk.after = {1: downloaded, 8: walk.wait_for_jobs}
    result = walk.run()
    assert result.run_count == 8
    trained = result.output(5)
    assert "Device: cpu (CPU), precision fp32" in trained and "Model and tokenizer saved to bert-mrpc" in trained
    check_epochs(trained, 3)
    assert result.output(6).strip() == f"#SBATCH -p {slurm.partition}"
    assert re.search(r"^Submitted batch job \d+$", result.output(8), re.M), result.output(8)
    job = result.output(9)
    assert f"Python: {walk.home}/miniconda3/envs/torch/bin/python" in job and "Finished" in job, job
    assert PREDICTION.search(result.output(10)), result.output(10)
    page_walk.same_blocks("en", typed={"zh": {"<分区名>": "gpu"}, "en": {"<partition name>": "gpu"}})


# ---- on a GPU (skipped where none is present) -------------------------------------------------------------


@pytest.mark.gpu
def test_train_on_a_real_gpu(run_script, workdir, hub):
    """train.py on CUDA with the tiny BERT: the precision matches the GPU's compute capability."""
    download(run_script, hub)
    capability = run_script("python", "-c", "import torch; print(*torch.cuda.get_device_capability())",
                            gpu=True).stdout.split()
    major, minor = int(capability[0]), int(capability[1])
    result = run_script("train.py", "--epochs", "2", *FAST, gpu=True)
    precision = "bf16" if major >= 8 else "fp16"
    line = re.search(r"^Device: cuda \((.+), compute capability (\d+)\.(\d+)\), precision (\w+)(.*)$",
                     result.stdout, re.M)
    assert line, result.stdout
    assert (int(line.group(2)), int(line.group(3)), line.group(4)) == (major, minor, precision), result.stdout
    assert line.group(5) == (" with loss scaling (GradScaler)" if precision == "fp16" else "")
    check_epochs(result.stdout, 2)
    metrics = json.loads((workdir / "bert-mrpc" / "metrics.json").read_text())
    assert metrics["precision"] == precision
    predict = run_script("predict.py", "The bank said higher profits on monday.",
                         "The bank stated bigger profits on monday.", gpu=True)
    assert PREDICTION.search(predict.stdout), predict.stdout
