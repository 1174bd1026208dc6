"""Tutorial 12 (the training module, one node): train_and_merge.sh and the two configs, run by the real
LLaMA-Factory on CPU with a tiny random Qwen2 model: train 2 steps, merge, load the merged model and generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tutorial_fixtures import other_tutorial

FIXTURES = Path(__file__).parent / "fixtures"
from fixtures.identity_dataset import (  # dataset_check: an autouse fixture
    CPU, FACTS, checked_line, dataset_check, tiny_model)  # noqa: F401
from fixtures.llamafactory_stub import stub_cli  # the one stand-in llamafactory-cli of Tutorials 10, 12, 13

T9 = other_tutorial(9).folder             # the configs are Tutorial 9's

SEARCH_PROBES = {"zh": ["训练模块 微调 合并", "TensorBoard 训练 日志"],
                 "en": ["TensorBoard tensorboardX", "training module fine-tuning"]}


def test_train_and_merge_end_to_end(run_script, ai_platform, workdir):
    tiny_model(run_script, ai_platform)
    result = run_script("train_and_merge.sh", *CPU, env=ai_platform, timeout=900)
    work = Path(ai_platform["WORK_DIR"])
    adapter, merged = work / "saves" / "scow-identity-lora", work / "merged" / "scow-identity"
    lines = result.stdout.splitlines()
    # The copy of the output in the tutorial folder, Tutorial 5's check_dataset.py, then the script's own lines.
    assert lines[0].startswith(f"log: {workdir / 'logs' / 'train-'}") and lines[0].endswith(".log")
    assert lines[1:3] == [checked_line(), f"WORK_DIR: {work}"]
    log = Path(lines[0].removeprefix("log: "))
    assert log.read_text(encoding="utf-8").splitlines()[-1] == f"merged model: {merged}"
    assert "***** train metrics *****" in log.read_text(encoding="utf-8")
    assert f"[1/2] training: {adapter}" in lines and f"[2/2] merging: {merged}" in lines
    assert lines[-1] == f"merged model: {merged}"
    assert "***** train metrics *****" in result.output
    assert json.loads((adapter / "trainer_state.json").read_text())["global_step"] == 2
    assert (adapter / "adapter_model.safetensors").exists()
    assert list(merged.glob("*.safetensors")) and (merged / "tokenizer_config.json").exists()
    answer = run_script(str(FIXTURES / "llamafactory_generate.py"), str(merged), ai_platform["SCOW_AI_MODEL_PATH"],
                        "你好，你是谁？")
    reply = json.loads(answer.stdout.strip().splitlines()[-1])
    assert reply["new_tokens"] > 0
    assert reply["max_weight_change"] > 0, "the merged model equals the base model: the adapter was not merged"


def test_configs_parse_with_the_scripts_overrides_and_the_keys_the_page_offers(tutorial, run_script, ai_platform):
    """One LLaMA-Factory process parses the configs as train_and_merge.sh passes them (TensorBoard section) and with
    the keys the page offers for older GPUs (qwen3_nothink, quantization_bit, fp16)."""
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    model = f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}"
    data = f"dataset_dir={ai_platform['SCOW_AI_DATASET_PATH']}"
    result = run_script(str(FIXTURES / "llamafactory_parse_configs.py"),
                        "train", "sft.yaml", model, data, "output_dir=out", "bf16=false", "report_to=tensorboard",
                        "logging_dir=tb", "+", "export", "merge.yaml", model, "adapter_name_or_path=out",
                        "export_dir=merged",
                        "+", "train", "sft.yaml", model, data, "output_dir=out", "bf16=false", "fp16=false",
                        "template=qwen3_nothink")
    train, merge, offered = json.loads(result.stdout.strip().splitlines()[-1])
    assert train["report_to"] == ["tensorboard"] and train["logging_dir"] == "tb"  # the TensorBoard section
    assert train["dataset"] == [FACTS["identity_dataset"]] and train["num_train_epochs"] == 20.0
    assert merge["export_dir"] == "merged" and merge["quantization_bit"] is None
    assert offered["template_exists"] and "quantization_bit" in offered
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        for words in ("qwen3_nothink", "quantization_bit=4", "bf16=false fp16=true", "compute_cap"):
            assert words in text, (page, words)
        assert "doesn't support bf16" not in text and "cutoff_len=512" not in text, page


def test_configs_are_tutorial_9s(tutorial):
    for name in ("sft.yaml", "merge.yaml"):
        ours = yaml.safe_load((tutorial.folder / name).read_text(encoding="utf-8"))
        assert ours == yaml.safe_load((T9 / name).read_text(encoding="utf-8")), f"{name} differs from Tutorial 9's"
    assert (tutorial.folder / "requirements.txt").read_text() == (T9 / "requirements.txt").read_text()


@pytest.mark.usefixtures("model_folder")
def test_tensorboard_without_a_writer_is_a_clear_error(run_script, ai_platform, tutorial, tmp_path):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    logs = Path(ai_platform["WORK_DIR"]) / "tensorboard"
    result = run_script("train_and_merge.sh", env=ai_platform | path | {"TENSORBOARD_DIR": str(logs)}, check=False)
    assert result.returncode == 2, result.output
    assert "neither tensorboard nor tensorboardX" in result.stderr
    assert not calls()


@pytest.mark.usefixtures("model_folder")
def test_tensorboard_dir_reaches_llamafactory(run_script, ai_platform, tutorial, tmp_path):
    """With a TensorBoard writer importable, the run passes report_to and logging_dir (stand-in writer module)."""
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    fake = tmp_path / "lib"
    (fake / "tensorboardX").mkdir(parents=True)
    (fake / "tensorboardX" / "__init__.py").write_text("")
    logs = Path(ai_platform["WORK_DIR"]) / "tensorboard"
    result = run_script("train_and_merge.sh", "num_train_epochs=10",
                        env=ai_platform | path | {"TENSORBOARD_DIR": str(logs), "PYTHONPATH": str(fake)})
    assert f"TensorBoard logs: {logs}" in result.stdout and logs.is_dir()
    (train, _), (export, _) = calls()
    assert train[-3:] == ["report_to=tensorboard", f"logging_dir={logs}", "num_train_epochs=10"]
    assert export[0] == "export" and not any(a.startswith("num_train_epochs") for a in export)


@pytest.mark.usefixtures("model_folder")
def test_tensorboard_logs_go_into_the_mounted_folder(run_script, ai_platform, tutorial, tmp_path, workdir):
    """The page's way (issue 25: the form takes one mount point, the tutorial folder): tensorboardX installed into
    tensorboardx-lib next to the script and TENSORBOARD_DIR=tensorboard, with the job started in another folder;
    the logs go to the tutorial folder, with no PYTHONPATH and no second mount point."""
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    writer = workdir / "tensorboardx-lib" / "tensorboardX"  # a stand-in of what the page's pip --target installs
    writer.mkdir(parents=True)
    (writer / "__init__.py").write_text("")
    env = ai_platform | path | {"TENSORBOARD_DIR": "tensorboard"}
    result = run_script("bash", str(workdir / "train_and_merge.sh"), cwd=ai_platform["WORK_DIR"], env=env)
    logs = workdir / "tensorboard"
    assert f"TensorBoard logs: {logs}" in result.stdout and logs.is_dir()
    assert not (Path(ai_platform["WORK_DIR"]) / "tensorboard").exists()
    (train, _), _ = calls()
    assert train[-2:] == ["report_to=tensorboard", f"logging_dir={logs}"]


@pytest.mark.parametrize("missing", ["SCOW_AI_MODEL_PATH", "SCOW_AI_DATASET_PATH", "WORK_DIR"])
def test_missing_platform_variables_stop_the_job(run_script, ai_platform, missing):
    env = dict(ai_platform)
    env.pop(missing)
    result = run_script("train_and_merge.sh", env=env, check=False)
    assert result.returncode == 2
    assert f"${missing} is not set" in result.stderr


@pytest.mark.parametrize("bad, words", [
    ("no-config", "config.json not found"),
    ("dataset-name", "dataset 'scow_identiy' is not in"),
    ("no-data-file", 'not found ("file_name" of \'scow_identity\')'),
    ("misspelt-key", "has 'filename' where LLaMA-Factory reads \"file_name\""),
    ("read-only", "cannot write to"),
])
def test_bad_inputs_stop_the_job_before_training(request, run_script, ai_platform, tutorial, tmp_path, bad, words):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    if bad != "no-config":
        request.getfixturevalue("model_folder")
    else:
        Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    env, args = ai_platform | path, []
    if bad == "dataset-name":
        args = ["dataset=scow_identiy"]
    elif bad == "no-data-file":
        (Path(ai_platform["SCOW_AI_DATASET_PATH"]) / FACTS["identity_file"]).unlink()
    elif bad == "misspelt-key":  # issue 25: was reported as a missing data file
        info = Path(ai_platform["SCOW_AI_DATASET_PATH"]) / "dataset_info.json"
        entries = json.loads(info.read_text(encoding="utf-8"))
        entries[FACTS["identity_dataset"]]["filename"] = entries[FACTS["identity_dataset"]].pop("file_name")
        info.write_text(json.dumps(entries), encoding="utf-8")
    elif bad == "read-only":
        (tmp_path / "file").write_text("")
        env["WORK_DIR"] = str(tmp_path / "file")  # mkdir under it fails, for root too
    result = run_script("train_and_merge.sh", *args, env=env, check=False)
    assert result.returncode == 2, result.output
    assert words in result.stderr
    assert not calls(), "the script started llamafactory-cli anyway"


@pytest.mark.usefixtures("model_folder")
def test_without_tutorial_5s_check_it_warns_and_trains(run_script, ai_platform, tutorial, tmp_path, workdir):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    (workdir / "check_dataset.py").unlink()
    result = run_script("train_and_merge.sh", env=ai_platform | path)
    assert "check_dataset.py not found, so the dataset is not checked" in result.stderr
    assert [call[0][0] for call in calls()] == ["train", "export"]


def test_page_walk(page_walk, tutorial):
    """The Chinese page in page order: the files downloaded on the login node (their full path printed), and
    tensorboardX installed there from Tutorial 0's conda environment. The run commands are form fields of a
    training job that trains with bf16 on a GPU: train_and_merge.sh runs in the tests above."""
    walk = page_walk()
    walk.install_conda()
    files = walk.home / "scow-tutorials" / tutorial.folder.name
    result = walk.run()
    assert result.output(0).strip().splitlines()[-1] == str(files)
    assert (files / "check_dataset.py").read_bytes() == (other_tutorial(5).folder / "check_dataset.py").read_bytes()
    assert (files / "tensorboardx-lib" / "tensorboardX" / "__init__.py").is_file()
    page_walk.same_blocks("en", typed={"zh": {"<完整路径>": "P"}, "en": {"<full path>": "P"}})
