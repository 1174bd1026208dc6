"""Tutorial 13 (the training module, several nodes): train_multinode.sh and the two configs, run by the real
LLaMA-Factory on CPU with a tiny random Qwen2 model as a one-node distributed job (RANK=0, WORLD_SIZE=1), the way
SCOW's PyTorch distributed training sets the variables. A second node's part is checked with a stand-in
llamafactory-cli: its own per-rank folder, and no merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from mkdocs.config import load_config
from tutorial_fixtures import ROOT, free_port, other_tutorial

FIXTURES = Path(__file__).parent / "fixtures"
from fixtures.llamafactory_stub import stub_cli  # the one stand-in llamafactory-cli of Tutorials 10, 12, 13

FACTS = load_config(str(ROOT / "mkdocs.yml"))["extra"]["facts"]
T10 = other_tutorial(10).folder           # the same 2 x 2 GPU training config as Tutorial 10

SEARCH_PROBES = {"zh": ["分布式 训练 WORLD_SIZE", "rank 合并 分布式 节点"],
                 "en": ["distributed training job several nodes"]}

CPU = ["max_steps=2", "bf16=false", "preprocessing_num_workers=1"]


def model_folder(ai_platform) -> None:
    """An attached model folder that passes the script's check (for runs with the stand-in llamafactory-cli)."""
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    (Path(ai_platform["SCOW_AI_MODEL_PATH"]) / "config.json").write_text("{}")


def test_one_node_job_trains_into_rank_0_and_merges(run_script, ai_platform):
    run_script(str(FIXTURES / "tiny_qwen2.py"), ai_platform["SCOW_AI_MODEL_PATH"],
               str(Path(ai_platform["SCOW_AI_DATASET_PATH"]) / FACTS["identity_file"]))
    env = ai_platform | {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": free_port(), "RANK": "0", "WORLD_SIZE": "1",
                      "NPROC_PER_NODE": "1"}
    result = run_script("train_multinode.sh", *CPU, env=env, timeout=900)
    work = Path(ai_platform["WORK_DIR"])
    assert "node 0 of 1, 1 processes on this node, master 127.0.0.1:" in result.stdout
    assert "Process rank: 0, world size: 1" in result.output and "distributed training: True" in result.output
    assert sorted(p.name for p in work.iterdir()) == ["datasets-cache", "merged", "rank-0"]
    assert [p.name for p in (work / "datasets-cache").iterdir()] == ["node-0"]
    adapter = work / "rank-0" / "lora"
    assert (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "trainer_state.json").read_text())["global_step"] == 2
    merged = work / "merged" / "scow-identity"
    assert result.stdout.splitlines()[-1] == f"merged model: {merged}"
    answer = run_script(str(FIXTURES / "llamafactory_generate.py"), str(merged), ai_platform["SCOW_AI_MODEL_PATH"],
                        "你好，你是谁？")
    reply = json.loads(answer.stdout.strip().splitlines()[-1])
    assert reply["new_tokens"] > 0 and reply["max_weight_change"] > 0


@pytest.mark.parametrize("rank", ["0", "1"])
def test_two_node_job_each_rank_its_own_folder_only_rank_0_merges(run_script, ai_platform, tutorial, tmp_path, rank):
    model_folder(ai_platform)
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    env = ai_platform | path | {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": rank,
                             "WORLD_SIZE": "2", "NPROC_PER_NODE": "2"}
    result = run_script("train_multinode.sh", env=env)
    made = calls()
    work = ai_platform["WORK_DIR"]
    (train, launcher) = made[0]
    assert train[0] == "train" and f"output_dir={work}/rank-{rank}/lora" in train
    assert launcher == {"FORCE_TORCHRUN": "1", "NNODES": "2", "NODE_RANK": rank, "NPROC_PER_NODE": "2",
                        "MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": rank, "WORLD_SIZE": "2",
                        "HF_DATASETS_CACHE": f"{work}/datasets-cache/node-{rank}"}  # one datasets cache per node
    if rank == "0":
        assert len(made) == 2 and made[1][0][0] == "export"
        assert f"adapter_name_or_path={work}/rank-0/lora" in made[1][0]
        assert set(made[1][1]) <= {"HF_DATASETS_CACHE"}, f"the merge still sees distributed variables: {made[1][1]}"
        assert result.stdout.splitlines()[-1] == f"merged model: {work}/merged/scow-identity"
    else:
        assert len(made) == 1, "a node other than rank 0 merged"
        assert "node 0 merges" in result.stdout


@pytest.mark.parametrize("missing", ["MASTER_ADDR", "RANK", "WORLD_SIZE"])
def test_without_distributed_training_it_says_so(run_script, ai_platform, tutorial, tmp_path, missing):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    env = ai_platform | path | {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": "0",
                             "WORLD_SIZE": "2"}
    env.pop(missing)
    result = run_script("train_multinode.sh", env=env, check=False)
    assert result.returncode == 2
    assert f"${missing} is not set" in result.stderr and "distributed training" in result.stderr
    assert not calls()


@pytest.mark.parametrize("bad, words", [
    ("rank-too-big", "RANK is '2' but WORLD_SIZE is 2: RANK must be 0 to 1"),
    ("no-config", "config.json not found"),
    ("dataset-name", "dataset 'scow_identiy' is not in"),
    ("read-only", "cannot write to"),
])
def test_bad_inputs_stop_the_node_before_training(run_script, ai_platform, tutorial, tmp_path, bad, words):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    if bad == "no-config":
        Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    else:
        model_folder(ai_platform)
    env = ai_platform | path | {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": "1",
                             "WORLD_SIZE": "2", "NPROC_PER_NODE": "2"}
    args = []
    if bad == "rank-too-big":
        env["RANK"] = "2"  # before: accepted, and the node waited 600 s at the rendezvous
    elif bad == "dataset-name":
        args = ["dataset=scow_identiy"]
    elif bad == "read-only":
        (tmp_path / "file").write_text("")
        env["WORK_DIR"] = str(tmp_path / "file")  # mkdir under it fails, for root too
    result = run_script("train_multinode.sh", *args, env=env, check=False, timeout=60)
    assert result.returncode == 2, result.output
    assert words in result.stderr
    assert not calls(), "the script started llamafactory-cli anyway"


def test_configs_parse_and_match_tutorial_10(run_script, ai_platform, tutorial):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    model = f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}"
    result = run_script(str(FIXTURES / "llamafactory_parse_configs.py"),
                        "train", "sft.yaml", model, f"dataset_dir={ai_platform['SCOW_AI_DATASET_PATH']}",
                        "output_dir=out", "bf16=false",
                        "+", "export", "merge.yaml", model, "adapter_name_or_path=out", "export_dir=merged")
    train, merge = json.loads(result.stdout.strip().splitlines()[-1])
    assert train["gradient_accumulation_steps"] == 2 and train["ddp_timeout"] == 1800
    assert merge["quantization_bit"] is None and train["data_shared_file_system"] is False
    for name in ("sft.yaml", "merge.yaml"):
        ours = yaml.safe_load((tutorial.folder / name).read_text(encoding="utf-8"))
        assert ours == yaml.safe_load((T10 / name).read_text(encoding="utf-8")), f"{name} differs from Tutorial 10's"
    assert (tutorial.folder / "requirements.txt").read_text() == (T10 / "requirements.txt").read_text()


def test_page_walk(page_walk, tutorial):
    """The Chinese page in page order: only the download on the login node runs; the run commands are form fields of
    a two-node training job on GPUs (train_multinode.sh runs in the tests above)."""
    walk = page_walk()
    result = walk.run()
    assert result.output(0).strip().splitlines()[-1] == str(walk.home / "scow-tutorials" / tutorial.folder.name)
    page_walk.same_blocks("en", typed={"zh": {"<完整路径>": "P"}, "en": {"<full-path>": "P"}})


def test_page_says_what_the_script_does(tutorial):
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        for words in ("qwen3_nothink", "quantization_bit=4", "bf16=false fp16=true", "compute_cap",
                      "rng_state_2.pth", "data_shared_file_system", "HF_DATASETS_CACHE"):
            assert words in text, (page, words)
        assert "doesn't support bf16" not in text and "cutoff_len=512" not in text, page
