"""Tutorial 13 (the training module, several nodes): train_multinode.sh and the two configs, run by the real
LLaMA-Factory on CPU with a tiny random Qwen2 model as a one-node distributed job (RANK=0, WORLD_SIZE=1), the way
SCOW's PyTorch distributed training sets the variables. A second node's part is checked with a stand-in
llamafactory-cli: its own per-rank folder, and no merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tutorial_fixtures import free_port
import yaml

FIXTURES = Path(__file__).parent / "fixtures"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "tutorials"
DATASET = DOCS / "05-datasets"            # Tutorial 5 publishes the identity dataset
T10 = DOCS / "10-lora-multinode"          # the same 2 x 2 GPU training config as Tutorial 10

SEARCH_PROBES = {"zh": ["分布式 训练 WORLD_SIZE", "rank 合并 分布式 节点"],
                 "en": ["distributed training job several nodes"]}

CPU = ["max_steps=2", "bf16=false", "preprocessing_num_workers=1"]
LAUNCHER = ("FORCE_TORCHRUN", "NNODES", "NODE_RANK", "NPROC_PER_NODE", "MASTER_ADDR", "MASTER_PORT", "RANK",
            "WORLD_SIZE")





def stub_cli(tmp_path: Path, env_bin: Path) -> tuple[dict[str, str], Path]:
    """A stand-in llamafactory-cli that records its arguments and the launcher variables it sees."""
    stub = tmp_path / "stub"
    stub.mkdir()
    record = tmp_path / "calls.txt"
    names = "|".join(LAUNCHER)
    (stub / "llamafactory-cli").write_text(
        f"#!/usr/bin/env bash\n{{ echo \"args: $*\"; env | grep -E '^({names})=' | sort | tr '\\n' ' '; echo; }}"
        f" >> '{record}'\n")
    (stub / "llamafactory-cli").chmod(0o755)
    return {"PATH": f"{stub}:{env_bin}:/usr/bin:/bin"}, record


def test_one_node_job_trains_into_rank_0_and_merges(run_script, ai_platform):
    run_script(str(FIXTURES / "tiny_qwen2.py"), ai_platform["SCOW_AI_MODEL_PATH"],
               str(DATASET / "scow_identity.json"))
    env = ai_platform | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": free_port(), "RANK": "0", "WORLD_SIZE": "1",
                      "NPROC_PER_NODE": "1"}
    result = run_script("train_multinode.sh", *CPU, env=env, timeout=900)
    work = Path(ai_platform["WORK_DIR"])
    assert "node 0 of 1, 1 processes on this node, master 127.0.0.1:" in result.stdout
    assert "Process rank: 0, world size: 1" in result.output and "distributed training: True" in result.output
    assert sorted(p.name for p in work.iterdir()) == ["merged", "rank-0"]
    adapter = work / "rank-0" / "lora"
    assert (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "trainer_state.json").read_text())["global_step"] == 2
    merged = work / "merged" / "scow-identity"
    assert result.stdout.splitlines()[-1] == f"merged model: {merged}"
    answer = run_script(str(FIXTURES / "t10_generate.py"), str(merged), ai_platform["SCOW_AI_MODEL_PATH"],
                        "你好，你是谁？")
    reply = json.loads(answer.stdout.strip().splitlines()[-1])
    assert reply["new_tokens"] > 0 and reply["max_weight_change"] > 0


@pytest.mark.parametrize("rank", ["0", "1"])
def test_two_node_job_each_rank_its_own_folder_only_rank_0_merges(run_script, ai_platform, tutorial, tmp_path, rank):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    (Path(ai_platform["SCOW_AI_MODEL_PATH"]) / "config.json").write_text("{}")
    path, record = stub_cli(tmp_path, tutorial.env / "bin")
    env = ai_platform | path | {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": rank,
                             "WORLD_SIZE": "2", "NPROC_PER_NODE": "2"}
    result = run_script("train_multinode.sh", env=env)
    calls = record.read_text().splitlines()
    work = ai_platform["WORK_DIR"]
    assert calls[0].startswith("args: train ") and f"output_dir={work}/rank-{rank}/lora" in calls[0]
    launcher = set(calls[1].split())
    assert {"FORCE_TORCHRUN=1", "NNODES=2", f"NODE_RANK={rank}", "NPROC_PER_NODE=2", "MASTER_ADDR=job-master-0.job",
            "MASTER_PORT=23456"} <= launcher
    if rank == "0":
        assert len(calls) == 4 and calls[2].startswith("args: export ")
        assert f"adapter_name_or_path={work}/rank-0/lora" in calls[2]
        assert calls[3].strip() == "", f"the merge still sees distributed variables: {calls[3]}"
        assert result.stdout.splitlines()[-1] == f"merged model: {work}/merged/scow-identity"
    else:
        assert len(calls) == 2, "a node other than rank 0 merged"
        assert "node 0 merges" in result.stdout


@pytest.mark.parametrize("missing", ["MASTER_ADDR", "RANK", "WORLD_SIZE"])
def test_without_distributed_training_it_says_so(run_script, ai_platform, tutorial, tmp_path, missing):
    path, record = stub_cli(tmp_path, tutorial.env / "bin")
    env = ai_platform | path | {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": "0",
                             "WORLD_SIZE": "2"}
    env.pop(missing)
    result = run_script("train_multinode.sh", env=env, check=False)
    assert result.returncode == 2
    assert f"${missing} is not set" in result.stderr and "distributed training" in result.stderr
    assert not record.exists()


def test_configs_parse_and_match_tutorial_10(run_script, ai_platform, tutorial):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    model = f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}"
    result = run_script(str(FIXTURES / "t10_parse_configs.py"),
                        "train", "sft.yaml", model, f"dataset_dir={ai_platform['SCOW_AI_DATASET_PATH']}",
                        "output_dir=out", "bf16=false",
                        "+", "export", "merge.yaml", model, "adapter_name_or_path=out", "export_dir=merged")
    train, merge = json.loads(result.stdout.strip().splitlines()[-1])
    assert train["gradient_accumulation_steps"] == 2 and train["ddp_timeout"] == 1800
    assert merge["quantization_bit"] is None
    for name in ("sft.yaml", "merge.yaml"):
        ours = yaml.safe_load((tutorial.folder / name).read_text(encoding="utf-8"))
        assert ours == yaml.safe_load((T10 / name).read_text(encoding="utf-8")), f"{name} differs from Tutorial 10's"
    assert (tutorial.folder / "requirements.txt").read_text() == (T10 / "requirements.txt").read_text()
