"""Tutorial 12 (the training module, one node): train_and_merge.sh and the two configs, run by the real
LLaMA-Factory on CPU with a tiny random Qwen2 model: train 2 steps, merge, load the merged model and generate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
DATASET = DOCS / "05-datasets"            # Tutorial 5 publishes the identity dataset
T9 = DOCS / "09-lora-sft"                 # the configs are Tutorial 9's

SEARCH_PROBES = {"zh": ["train_and_merge.sh 微调", "TensorBoard 训练 日志"],
                 "en": ["TensorBoard tensorboardX", "training module fine-tuning"]}

# What a 2-core CPU can do: two steps, no bf16, no preprocessing worker processes.
CPU = ["max_steps=2", "bf16=false", "preprocessing_num_workers=1"]




def stub_cli(tmp_path: Path, env_bin: Path) -> tuple[dict[str, str], Path]:
    """A stand-in llamafactory-cli first on PATH that records how it was called."""
    stub = tmp_path / "stub"
    stub.mkdir()
    record = tmp_path / "calls.txt"
    (stub / "llamafactory-cli").write_text(f"#!/usr/bin/env bash\necho \"args: $*\" >> '{record}'\n")
    (stub / "llamafactory-cli").chmod(0o755)
    return {"PATH": f"{stub}:{env_bin}:/usr/bin:/bin"}, record


def test_train_and_merge_end_to_end(run_script, ai_platform):
    run_script(str(FIXTURES / "tiny_qwen2.py"), ai_platform["SCOW_AI_MODEL_PATH"],
               str(DATASET / "scow_identity.json"))
    result = run_script("train_and_merge.sh", *CPU, env=ai_platform, timeout=900)
    work = Path(ai_platform["WORK_DIR"])
    adapter, merged = work / "saves" / "scow-identity-lora", work / "merged" / "scow-identity"
    lines = result.stdout.splitlines()
    assert lines[0] == f"WORK_DIR: {work}"
    assert f"[1/2] training: {adapter}" in lines and f"[2/2] merging: {merged}" in lines
    assert lines[-1] == f"merged model: {merged}"
    assert "***** train metrics *****" in result.output
    assert json.loads((adapter / "trainer_state.json").read_text())["global_step"] == 2
    assert (adapter / "adapter_model.safetensors").exists()
    assert list(merged.glob("*.safetensors")) and (merged / "tokenizer_config.json").exists()
    answer = run_script(str(FIXTURES / "t10_generate.py"), str(merged), ai_platform["SCOW_AI_MODEL_PATH"],
                        "你好，你是谁？")
    reply = json.loads(answer.stdout.strip().splitlines()[-1])
    assert reply["new_tokens"] > 0
    assert reply["max_weight_change"] > 0, "the merged model equals the base model: the adapter was not merged"


def test_configs_parse_with_the_scripts_overrides(run_script, ai_platform):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    model = f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}"
    result = run_script(str(FIXTURES / "t10_parse_configs.py"),
                        "train", "sft.yaml", model, f"dataset_dir={ai_platform['SCOW_AI_DATASET_PATH']}",
                        "output_dir=out", "bf16=false", "report_to=tensorboard", "logging_dir=tb",
                        "+", "export", "merge.yaml", model, "adapter_name_or_path=out", "export_dir=merged")
    train, merge = json.loads(result.stdout.strip().splitlines()[-1])
    assert train["report_to"] == ["tensorboard"] and train["logging_dir"] == "tb"  # the TensorBoard section
    assert train["dataset"] == ["scow_identity"] and train["num_train_epochs"] == 20.0
    assert merge["export_dir"] == "merged" and merge["quantization_bit"] is None


def test_configs_are_tutorial_9s(tutorial):
    for name in ("sft.yaml", "merge.yaml"):
        ours = yaml.safe_load((tutorial.folder / name).read_text(encoding="utf-8"))
        assert ours == yaml.safe_load((T9 / name).read_text(encoding="utf-8")), f"{name} differs from Tutorial 9's"
    assert (tutorial.folder / "requirements.txt").read_text() == (T9 / "requirements.txt").read_text()


def test_tensorboard_without_a_writer_is_a_clear_error(run_script, ai_platform, tutorial, tmp_path):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    (Path(ai_platform["SCOW_AI_MODEL_PATH"]) / "config.json").write_text("{}")
    path, record = stub_cli(tmp_path, tutorial.env / "bin")
    logs = Path(ai_platform["WORK_DIR"]) / "tensorboard"
    result = run_script("train_and_merge.sh", env=ai_platform | path | {"TENSORBOARD_DIR": str(logs)}, check=False)
    assert result.returncode == 2, result.output
    assert "neither tensorboard nor tensorboardX" in result.stderr
    assert not record.exists()


def test_tensorboard_dir_reaches_llamafactory(run_script, ai_platform, tutorial, tmp_path):
    """With a TensorBoard writer importable, the run passes report_to and logging_dir (stand-in writer module)."""
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    (Path(ai_platform["SCOW_AI_MODEL_PATH"]) / "config.json").write_text("{}")
    path, record = stub_cli(tmp_path, tutorial.env / "bin")
    fake = tmp_path / "lib"
    (fake / "tensorboardX").mkdir(parents=True)
    (fake / "tensorboardX" / "__init__.py").write_text("")
    logs = Path(ai_platform["WORK_DIR"]) / "tensorboard"
    result = run_script("train_and_merge.sh", "num_train_epochs=10",
                        env=ai_platform | path | {"TENSORBOARD_DIR": str(logs), "PYTHONPATH": str(fake)})
    assert f"TensorBoard logs: {logs}" in result.stdout and logs.is_dir()
    train, export = record.read_text().splitlines()
    assert train.endswith(f"report_to=tensorboard logging_dir={logs} num_train_epochs=10")
    assert export.startswith("args: export ") and "num_train_epochs" not in export


@pytest.mark.parametrize("missing", ["SCOW_AI_MODEL_PATH", "SCOW_AI_DATASET_PATH", "WORK_DIR"])
def test_missing_platform_variables_stop_the_job(run_script, ai_platform, missing):
    env = dict(ai_platform)
    env.pop(missing)
    result = run_script("train_and_merge.sh", env=env, check=False)
    assert result.returncode == 2
    assert f"${missing} is not set" in result.stderr
