"""Tutorial 10 (LoRA fine-tuning on two nodes with two VSCode apps): launch.sh, merge.sh and the two configs, run
by the real LLaMA-Factory on CPU with a tiny random Qwen2 model.

One CPU "node" stands in for the two apps: launch.sh with NNODES=1 goes through the same torchrun launcher a
two-node run uses (FORCE_TORCHRUN), trains two steps, merge.sh merges the adapter, and the merged model answers.
The two-node launch lines are checked with a stand-in llamafactory-cli that records what launch.sh hands it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from tutorial_fixtures import free_port

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
DATASET = DOCS / "05-datasets"            # Tutorial 5 publishes the identity dataset
T9 = DOCS / "09-lora-sft"                 # Tutorial 9's single-GPU config: the hyper-parameters to keep

SEARCH_PROBES = {"zh": ["hostname 节点 地址", "VSCode 节点 地址 hostname"],
                 "en": ["master address NODE_RANK", "multi-node LoRA fine-tuning"]}

# What a 2-core CPU can do: two steps, no bf16, no preprocessing worker processes.
CPU = ["max_steps=2", "bf16=false", "preprocessing_num_workers=1"]





def stub_cli(tmp_path: Path, env_bin: Path) -> tuple[dict[str, str], Path]:
    """A stand-in llamafactory-cli first on PATH that records its arguments and launcher variables."""
    stub = tmp_path / "stub"
    stub.mkdir()
    record = tmp_path / "calls.txt"
    (stub / "llamafactory-cli").write_text(
        "#!/usr/bin/env bash\n"
        f"{{ echo \"args: $*\"; env | grep -E '^(FORCE_TORCHRUN|NNODES|NODE_RANK|NPROC_PER_NODE|MASTER_ADDR|"
        f"MASTER_PORT)=' | sort; }} >> '{record}'\n")
    (stub / "llamafactory-cli").chmod(0o755)
    return {"PATH": f"{stub}:{env_bin}:/usr/bin:/bin"}, record


def test_configs_parse_keep_tutorial_9s_hyper_parameters_and_refuse_typos(run_script, ai_platform, workdir):
    paths = [f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}",
             f"dataset_dir={ai_platform['SCOW_AI_DATASET_PATH']}", "output_dir=out", "bf16=false"]
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    typo = workdir / "typo.yaml"
    typo.write_text((workdir / "sft.yaml").read_text().replace("learning_rate:", "lerning_rate:"))
    result = run_script(str(FIXTURES / "t10_parse_configs.py"),
                        "train", "sft.yaml", *paths,
                        "+", "export", "merge.yaml", f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}",
                        "adapter_name_or_path=out", "export_dir=merged",
                        "+", "train", str(T9 / "sft.yaml"), *paths,
                        "+", "export", str(T9 / "merge.yaml"), "model_name_or_path=m", "adapter_name_or_path=out",
                        "export_dir=merged",
                        "+", "!train", str(typo), *paths)
    ours, merge, t9, t9_merge, refused = json.loads(result.stdout.strip().splitlines()[-1])
    # Two nodes x 2 GPUs: 4 processes x 1 sample x 2 accumulation steps = Tutorial 9's 1 x 1 x 8.
    assert 4 * ours["per_device_train_batch_size"] * ours["gradient_accumulation_steps"] == \
        t9["per_device_train_batch_size"] * t9["gradient_accumulation_steps"]
    assert ours["ddp_timeout"] == 1800
    different = {k for k in ours if ours[k] != t9[k]} - {"gradient_accumulation_steps", "ddp_timeout",
                                                         "logging_dir"}
    assert not different, f"sft.yaml differs from Tutorial 9's in {sorted(different)}"
    assert ours["dataset"] == ["scow_identity"] and ours["template"] == "qwen"
    assert merge == t9_merge | {"model_name_or_path": ai_platform["SCOW_AI_MODEL_PATH"]}
    assert merge["quantization_bit"] is None  # merge into the original model, never a quantized one
    assert "lerning_rate" in refused["error"]  # LLaMA-Factory's parser rejects a misspelt key


def test_one_node_trains_merges_and_answers(run_script, ai_platform, tmp_path):
    run_script(str(FIXTURES / "tiny_qwen2.py"), ai_platform["SCOW_AI_MODEL_PATH"],
               str(DATASET / "scow_identity.json"))
    env = ai_platform | {"NNODES": "1", "NODE_RANK": "0", "NPROC_PER_NODE": "1", "MASTER_ADDR": "127.0.0.1",
                      "MASTER_PORT": free_port()}
    train = run_script("launch.sh", *CPU, env=env, timeout=900)
    assert "node 0 of 1, 1 processes on this node, master 127.0.0.1:" in train.stdout
    assert "Initializing 1 distributed tasks at: 127.0.0.1:" in train.output  # through torchrun
    assert "Process rank: 0, world size: 1" in train.output
    assert "distributed training: True" in train.output
    adapter = Path(ai_platform["WORK_DIR"]) / "saves" / "scow-identity-lora-2nodes"
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 8
    losses = [json.loads(line)["loss"] for line in (adapter / "trainer_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    state = json.loads((adapter / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    assert all(math.isfinite(x) and x > 0 for x in losses + [state["log_history"][-1]["train_loss"]])

    merge = run_script("merge.sh", env=ai_platform, timeout=900)
    merged = Path(ai_platform["WORK_DIR"]) / "merged" / "scow-identity-2nodes"
    assert f"merged model: {merged}" in merge.stdout
    assert list(merged.glob("*.safetensors")) and (merged / "config.json").exists()
    answer = run_script(str(FIXTURES / "t10_generate.py"), str(merged), ai_platform["SCOW_AI_MODEL_PATH"],
                        "你好，你是谁？")
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    assert result["new_tokens"] > 0
    assert result["max_weight_change"] > 0, "the merged model equals the base model: the adapter was not merged"


@pytest.mark.parametrize("rank", ["0", "1"])
def test_two_node_launch_lines_hand_llamafactory_every_variable(run_script, ai_platform, tutorial, tmp_path, rank):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    (Path(ai_platform["SCOW_AI_MODEL_PATH"]) / "config.json").write_text("{}")
    path, record = stub_cli(tmp_path, tutorial.env / "bin")
    result = run_script("launch.sh", env=ai_platform | path | {"NODE_RANK": rank, "MASTER_ADDR": "10.0.0.1",
                                                            "NPROC_PER_NODE": "2"})
    assert f"node {rank} of 2, 2 processes on this node, master 10.0.0.1:29500" in result.stdout
    calls = record.read_text()
    for line in ("FORCE_TORCHRUN=1", "NNODES=2", f"NODE_RANK={rank}", "NPROC_PER_NODE=2", "MASTER_ADDR=10.0.0.1",
                 "MASTER_PORT=29500"):
        assert line in calls.splitlines(), f"launch.sh does not pass {line}: {calls}"
    assert re.search(r"args: train \S*sft\.yaml model_name_or_path=\S+ dataset_dir=\S+ output_dir=\S+$", calls, re.M)


@pytest.mark.parametrize("unset, words", [
    ("NODE_RANK", "NODE_RANK is not set"),
    ("MASTER_ADDR", "MASTER_ADDR is not set"),
    ("placeholder", "replace the placeholder"),
    ("rank2", "NODE_RANK is '2'"),
    ("SCOW_AI_DATASET_PATH", "SCOW_AI_DATASET_PATH is not set"),
])
def test_launch_refuses_to_start_without_its_variables(run_script, ai_platform, tutorial, tmp_path, unset, words):
    path, record = stub_cli(tmp_path, tutorial.env / "bin")
    env = ai_platform | path | {"NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "NPROC_PER_NODE": "2"}
    if unset == "placeholder":
        env["MASTER_ADDR"] = "<主节点地址>"
    elif unset == "rank2":
        env["NODE_RANK"] = "2"
    else:
        env.pop(unset)
    result = run_script("launch.sh", env=env, check=False)
    assert result.returncode == 2, result.output
    assert words in result.stderr
    assert not record.exists(), "launch.sh started llamafactory-cli anyway"


def test_merge_without_an_adapter_says_where_to_run_it(run_script, ai_platform):
    result = run_script("merge.sh", env=ai_platform, check=False)
    assert result.returncode == 2
    assert "no adapter in" in result.stderr and "master app" in result.stderr


def test_requirements_are_tutorial_9s(tutorial):
    assert (tutorial.folder / "requirements.txt").read_text() == (T9 / "requirements.txt").read_text()
