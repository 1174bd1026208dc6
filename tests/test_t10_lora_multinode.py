"""Tutorial 10 (LoRA fine-tuning on two nodes with two VSCode apps): launch.sh, merge.sh and the two configs, run
by the real LLaMA-Factory on CPU with a tiny random Qwen2 model.

In the page walk, one CPU "node" stands in for the two apps: launch.sh with NNODES=1 goes through the same torchrun
launcher a two-node run uses (FORCE_TORCHRUN), trains two steps, the page's merge.sh merges the adapter, and the
merged model answers. The two-node launch lines are checked with a stand-in llamafactory-cli that records what
launch.sh hands it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from tutorial_fixtures import free_port, other_tutorial, record_or_compare

FIXTURES = Path(__file__).parent / "fixtures"
from fixtures.identity_dataset import CPU, FACTS, checked_line, dataset_check  # noqa: F401
from fixtures.llamafactory_stub import stub_cli  # the one stand-in llamafactory-cli of Tutorials 10, 12, 13

T9 = other_tutorial(9).folder             # Tutorial 9's single-GPU config: the hyper-parameters to keep

SEARCH_PROBES = {"zh": ["hostname 节点 地址", "VSCode 节点 地址 hostname"],
                 "en": ["master address NODE_RANK", "multi-node LoRA fine-tuning"]}

def same_but_port_and_time(recorded: str, actual: str) -> bool:
    """The recorded lines, up to the free port the test chose and the log's time stamps."""
    def norm(text):
        return re.sub(r"\[(\w+)\|[^\]]*\]", r"[\1]", re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", text))
    return norm(recorded) == norm(actual)


def test_configs_parse_keep_tutorial_9s_hyper_parameters_and_refuse_typos(run_script, ai_platform, workdir):
    paths = [f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}",
             f"dataset_dir={ai_platform['SCOW_AI_DATASET_PATH']}", "output_dir=out", "bf16=false"]
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    typo = workdir / "typo.yaml"
    typo.write_text((workdir / "sft.yaml").read_text().replace("learning_rate:", "lerning_rate:"))
    result = run_script(str(FIXTURES / "llamafactory_parse_configs.py"),
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
    assert ours["dataset"] == [FACTS["identity_dataset"]] and ours["template"] == "qwen" and ours["template_exists"]
    # Each node tokenizes into its own cache (launch.sh): the shared-file-system mode stays off.
    assert ours["data_shared_file_system"] is False
    assert merge == t9_merge | {"model_name_or_path": ai_platform["SCOW_AI_MODEL_PATH"]}
    assert merge["quantization_bit"] is None  # merge into the original model, never a quantized one
    assert "lerning_rate" in refused["error"]  # LLaMA-Factory's parser rejects a misspelt key


@pytest.mark.parametrize("rank", ["0", "1"])
@pytest.mark.usefixtures("model_folder")
def test_two_node_launch_lines_hand_llamafactory_every_variable(run_script, ai_platform, tutorial, tmp_path, rank):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    result = run_script("launch.sh", env=ai_platform | path | {"NODE_RANK": rank, "MASTER_ADDR": "10.0.0.1",
                                                            "NPROC_PER_NODE": "2"})
    assert f"node {rank} of 2, 2 processes on this node, master 10.0.0.1:29500" in result.stdout
    ((args, env),) = calls()
    assert env | {"HF_DATASETS_CACHE": ""} == {"FORCE_TORCHRUN": "1", "NNODES": "2", "NODE_RANK": rank,
                                               "NPROC_PER_NODE": "2", "MASTER_ADDR": "10.0.0.1",
                                               "MASTER_PORT": "29500", "HF_DATASETS_CACHE": ""}
    # One datasets cache per node: two nodes never write the same cache files.
    assert env["HF_DATASETS_CACHE"] == f"{ai_platform['WORK_DIR']}/datasets-cache/node-{rank}"
    assert args[0] == "train" and args[1].endswith("/sft.yaml")
    assert [a.split("=")[0] for a in args[2:]] == ["model_name_or_path", "dataset_dir", "output_dir"]


@pytest.mark.parametrize("unset, words", [
    ("NODE_RANK", "NODE_RANK is not set"),
    ("MASTER_ADDR", "MASTER_ADDR is not set"),
    ("placeholder", "replace the placeholder"),
    ("two addresses", "more than one address (hostname -i printed several)"),
    ("rank2", "NODE_RANK is '2': use 0 in the master app and 1 in the other app (NNODES=2)"),
    ("three-nodes-rank3", "NODE_RANK is '3': use 0 in the master app and 1 to 2 in the other apps"),
    ("one-node-rank1", "NODE_RANK is '1' but NNODES is 1: a one-node run has only NODE_RANK=0"),
    ("SCOW_AI_DATASET_PATH", "SCOW_AI_DATASET_PATH is not set"),
    ("no-config", "config.json not found"),
    ("dataset-name", "dataset 'scow_identiy' is not in"),
    ("read-only", "cannot write to"),
])
def test_launch_refuses_to_start_without_its_variables(request, run_script, ai_platform, tutorial, tmp_path, unset, words):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    if unset != "no-config":
        request.getfixturevalue("model_folder")
    env = ai_platform | path | {"NODE_RANK": "1", "MASTER_ADDR": "10.0.0.1", "NPROC_PER_NODE": "2"}
    args = []
    if unset == "placeholder":
        env["MASTER_ADDR"] = "<主节点地址>"
    elif unset == "two addresses":
        env["MASTER_ADDR"] = "10.0.0.1 10.0.0.2"
    elif unset == "three-nodes-rank3":
        env |= {"NNODES": "3", "NODE_RANK": "3"}
    elif unset == "rank2":
        env["NODE_RANK"] = "2"
    elif unset == "one-node-rank1":
        env["NNODES"] = "1"
    elif unset == "dataset-name":
        args = ["dataset=scow_identiy"]
    elif unset == "read-only":
        (tmp_path / "file").write_text("")
        env["WORK_DIR"] = str(tmp_path / "file")  # mkdir under it fails, for root too
    elif unset != "no-config":
        env.pop(unset)
    result = run_script("launch.sh", *args, env=env, check=False)
    assert result.returncode == 2, result.output
    assert words in result.stderr
    assert "1 to 0" not in result.stderr and "1 to 1" not in result.stderr
    assert ("placeholder" in result.stderr) == (unset == "placeholder")
    assert not calls(), "launch.sh started llamafactory-cli anyway"


def test_merge_without_a_model_folder_is_refused(run_script, ai_platform):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    result = run_script("merge.sh", env=ai_platform, check=False)
    assert result.returncode == 2 and "config.json not found" in result.stderr


@pytest.mark.usefixtures("model_folder")
def test_merge_without_an_adapter_says_where_to_run_it(run_script, ai_platform):
    result = run_script("merge.sh", env=ai_platform, check=False)
    assert result.returncode == 2
    assert "no adapter in" in result.stderr and "master app" in result.stderr


def test_requirements_are_tutorial_9s(tutorial):
    assert (tutorial.folder / "requirements.txt").read_text() == (T9 / "requirements.txt").read_text()


def test_page_walk(page_walk, tutorial, ai_platform, run_script, tmp_path):
    """The Chinese page in page order: the files downloaded on the login node, then two app containers (sessions
    node0 and node1) that see only their WORK_DIR, the attached model and dataset and the mount point (the files'
    folder). The two-node training needs GPUs: the test trains the same way on one CPU node into the master's
    WORK_DIR after both terminals are ready (launch.sh with NNODES=1, through torchrun as two nodes would); then the
    master merges, as the page says, and the merged model answers."""
    tiny = tmp_path / "tiny-qwen2"
    dataset = Path(ai_platform["SCOW_AI_DATASET_PATH"])
    run_script(str(FIXTURES / "tiny_qwen2.py"), str(tiny), str(dataset / FACTS["identity_file"]))
    walk = page_walk(model=tiny, dataset=dataset)
    files = walk.home / "scow-tutorials" / tutorial.folder.name
    walk.mount = files
    walk.typed = {"<完整路径>": str(files), "<主节点地址>": "127.0.0.1"}
    work = walk.work_dir
    trained = {}

    def train_on_cpu():
        env = {"SCOW_AI_MODEL_PATH": str(tiny), "SCOW_AI_DATASET_PATH": str(dataset), "WORK_DIR": str(work),
               "NNODES": "1", "NODE_RANK": "0", "NPROC_PER_NODE": "1", "MASTER_ADDR": "127.0.0.1",
               "MASTER_PORT": free_port()}
        trained["run"] = run_script("launch.sh", *CPU, env=env, cwd=files, timeout=900)

    walk.after = {3: train_on_cpu}
    result = walk.run()
    assert result.output(0).strip().splitlines()[-1] == str(files)
    for block in (2, 3):
        listed = set(result.output(block).split())
        assert listed >= {"check_dataset.py", "launch.sh", "merge.sh", "merge.yaml", "sft.yaml"}

    train = trained["run"]
    assert "node 0 of 1, 1 processes on this node, master 127.0.0.1:" in train.stdout
    assert "Initializing 1 distributed tasks at: 127.0.0.1:" in train.output  # through torchrun
    assert "Process rank: 0, world size: 1" in train.output and "distributed training: True" in train.output
    cache = work / "datasets-cache" / "node-0"
    assert f"datasets cache of this node: {cache}" in train.stdout and any(cache.iterdir())
    # The page shows launch.sh's four lines (the dataset check, the summary, the output and the cache folders) and the
    # launcher's two; the test machine's WORK_DIR is written $WORK_DIR.
    head = train.stdout.splitlines()[:4]
    assert head[0] == checked_line()
    assert head[1].startswith("node 0 of 1") and head[2].startswith("output (written by the master): ")
    assert head[3].startswith("datasets cache of this node: ")
    shown = [line.replace(str(work), "$WORK_DIR") for line in head]
    shown += [line for line in train.output.splitlines()
              if "Initializing 1 distributed tasks" in line or "Process rank: 0" in line]
    record_or_compare(tutorial.folder / "example_launch_cpu.txt", "\n".join(shown) + "\n", same=same_but_port_and_time)
    adapter = work / "saves" / "scow-identity-lora-2nodes"
    assert (adapter / "adapter_model.safetensors").stat().st_size > 0
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == 8
    losses = [json.loads(line)["loss"] for line in (adapter / "trainer_log.jsonl").read_text().splitlines()
              if "loss" in json.loads(line)]
    state = json.loads((adapter / "trainer_state.json").read_text())
    assert state["global_step"] == 2
    # save_steps is 100, yet the trainer also saves at the last step: checkpoint-2 here, checkpoint-120 on the page.
    assert [p.name for p in adapter.glob("checkpoint-*")] == ["checkpoint-2"]
    assert list((adapter / "checkpoint-2").glob("rng_state*.pth"))
    assert all(math.isfinite(x) and x > 0 for x in losses + [state["log_history"][-1]["train_loss"]])

    merged = work / "merged" / "scow-identity-2nodes"
    assert f"merged model: {merged}" in result.output(6).splitlines() and (merged / "config.json").is_file()
    assert list(merged.glob("*.safetensors"))
    answer = run_script(str(FIXTURES / "llamafactory_generate.py"), str(merged), str(tiny), "你好，你是谁？")
    answered = json.loads(answer.stdout.strip().splitlines()[-1])
    assert answered["new_tokens"] > 0
    assert answered["max_weight_change"] > 0, "the merged model equals the base model: the adapter was not merged"
    page_walk.same_blocks("en", typed={"zh": {"<完整路径>": "P", "<主节点地址>": "A"},
                                       "en": {"<full path>": "P", "<master-address>": "A"}})
