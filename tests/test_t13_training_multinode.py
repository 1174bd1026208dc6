"""Tutorial 13 (the training module, several nodes): train_multinode.sh and the two configs, run by the real
LLaMA-Factory on CPU with a tiny random Qwen2 model as a two-node job on this machine: two processes of the script
(RANK=0 and RANK=1, WORLD_SIZE=2, one process each) sharing one WORK_DIR, the way SCOW's PyTorch distributed
training sets the variables. Node 1 must end only after node 0 has merged. The variables each node hands to the
launcher, and node 1's wait when node 0 fails or is slow, are checked with a stand-in llamafactory-cli."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import yaml
from tutorial_fixtures import free_port, other_tutorial

FIXTURES = Path(__file__).parent / "fixtures"
from fixtures.identity_dataset import (  # dataset_check: an autouse fixture
    CPU, FACTS, checked_line, dataset_check, tiny_model)  # noqa: F401
from fixtures.llamafactory_stub import stub_cli  # the one stand-in llamafactory-cli of Tutorials 10, 12, 13

T10 = other_tutorial(10).folder           # the same 2 x 2 GPU training config as Tutorial 10

SEARCH_PROBES = {"zh": ["分布式 训练 WORLD_SIZE", "rank 合并 分布式 节点"],
                 "en": ["distributed training framework nodes"]}


def test_two_nodes_train_node_0_merges_node_1_waits_for_it(run_script, ai_platform, workdir):
    """Two processes of the script, one per "node", on one shared WORK_DIR, meeting at 127.0.0.1 (issue 25: node 1
    used to end as soon as training ended, while node 0 was still saving and merging)."""
    tiny_model(run_script, ai_platform)
    master = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": free_port(), "WORLD_SIZE": "2", "NPROC_PER_NODE": "1"}
    results, ended = {}, {}

    def node(rank: str) -> None:
        try:
            results[rank] = run_script("train_multinode.sh", *CPU, env=ai_platform | master | {"RANK": rank},
                                       timeout=1200, check=False)
        finally:
            ended[rank] = time.time()

    threads = [threading.Thread(target=node, args=(rank,)) for rank in ("0", "1")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results) == {"0", "1"}, "a node ran past its timeout"
    for rank, result in results.items():
        assert result.returncode == 0, f"node {rank} exited {result.returncode}:\n{result.output[-6000:]}"
    node0, node1 = results["0"], results["1"]
    work = Path(ai_platform["WORK_DIR"])
    merged = work / "merged" / "scow-identity"
    assert checked_line() in node1.stdout
    assert "node 0 of 2, 1 processes on this node, master 127.0.0.1:" in node0.stdout
    assert "node 1 of 2, 1 processes on this node" in node1.stdout
    assert "Process rank: 1, world size: 2" in node1.output and "distributed training: True" in node1.output
    assert sorted(p.name for p in work.iterdir()) == ["datasets-cache", "merged", "rank-0", "rank-1"]
    assert sorted(p.name for p in (work / "datasets-cache").iterdir()) == ["node-0", "node-1"]
    # Only global rank 0 saves the adapter; the trainer also saves a checkpoint at the last step (here step 2),
    # and every process writes its random-number state into its own node's copy of that checkpoint.
    adapter = work / "rank-0" / "lora"
    assert (adapter / "adapter_model.safetensors").exists()
    assert json.loads((adapter / "trainer_state.json").read_text())["global_step"] == 2
    assert (adapter / "checkpoint-2" / "rng_state_0.pth").is_file()
    assert sorted(p.name for p in (work / "rank-1" / "lora" / "checkpoint-2").iterdir()) == ["rng_state_1.pth"]
    assert not (work / "rank-1" / "lora" / "adapter_model.safetensors").exists()
    # Node 0 merged and reported it; node 1 read that report and ended only afterwards.
    status = work / "rank-0" / "status"
    assert status.read_text().split() == ["merged", f"127.0.0.1:{master['MASTER_PORT']}", str(merged)]
    assert node0.stdout.splitlines()[-1] == f"merged model: {merged}"
    assert "waiting for node 0 to save and merge" in node1.stdout
    assert node1.stdout.splitlines()[-1] == f"node 0 merged the model: {merged}"
    assert ended["1"] >= status.stat().st_mtime, "node 1 ended before node 0 reported its merge"
    # Each node keeps a copy of its output in the mounted tutorial folder.
    for rank, result in results.items():
        log = Path(result.stdout.splitlines()[0].removeprefix("log: "))
        assert log.parent == workdir / "logs" and log.name.startswith(f"node-{rank}-")
        assert log.read_text(encoding="utf-8").splitlines()[-1] == result.stdout.splitlines()[-1]
    answer = run_script(str(FIXTURES / "llamafactory_generate.py"), str(merged), ai_platform["SCOW_AI_MODEL_PATH"],
                        "你好，你是谁？")
    reply = json.loads(answer.stdout.strip().splitlines()[-1])
    assert reply["new_tokens"] > 0 and reply["max_weight_change"] > 0


@pytest.mark.parametrize("rank", ["0", "1"])
@pytest.mark.usefixtures("model_folder")
def test_two_node_job_each_rank_its_own_folder_only_rank_0_merges(run_script, ai_platform, tutorial, tmp_path, rank):
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
        assert Path(work, "rank-0", "status").read_text().split() == [
            "merged", "job-master-0.job:23456", f"{work}/merged/scow-identity"]
    else:
        assert len(made) == 1, "a node other than rank 0 merged"
        # Alone here, node 1 finds no report of this job's node 0: it cannot wait, and says why.
        assert "the nodes do not share WORK_DIR" in result.stderr


NODE1 = {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": "1", "WORLD_SIZE": "2",
         "NPROC_PER_NODE": "2"}


@pytest.mark.parametrize("report, code, words", [
    ("training job-master-0.job:23456", 1, "node 0 has not reported a merged model after 5 s (its status: training)"),
    ("failed job-master-0.job:23456 exit code 1", 1, "node 0 failed (exit code 1) after training"),
    ("merged job-master-0.job:23456 /w/merged/scow-identity", 0, "node 0 merged the model: /w/merged/scow-identity"),
    ("merged other-master-0.other:23456 /w/merged/scow-identity", 0, "the nodes do not share WORK_DIR"),
])
@pytest.mark.usefixtures("model_folder")
def test_node_1_ends_by_node_0s_report(run_script, ai_platform, tutorial, tmp_path, report, code, words):
    """What node 1 does after training with each report node 0 may have left in the shared WORK_DIR (written
    here by the test): still training after MERGE_WAIT seconds, failed, merged, or a report of another job."""
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    (Path(ai_platform["WORK_DIR"]) / "rank-0").mkdir()
    (Path(ai_platform["WORK_DIR"]) / "rank-0" / "status").write_text(report + "\n")
    start = time.monotonic()
    result = run_script("train_multinode.sh", env=ai_platform | path | NODE1 | {"MERGE_WAIT": "5"}, check=False,
                        timeout=60)
    assert result.returncode == code, result.output
    assert words in result.output
    assert len(calls()) == 1
    if report.startswith("training"):
        assert time.monotonic() - start >= 5, "node 1 gave up before MERGE_WAIT"


@pytest.mark.usefixtures("model_folder")
def test_node_0_reports_a_failed_merge(run_script, ai_platform, tutorial, tmp_path):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    cli = Path(path["PATH"].split(":")[0]) / "llamafactory-cli"
    cli.write_text(cli.read_text() + "sys.exit(1 if sys.argv[1] == 'export' else 0)\n")
    env = ai_platform | path | NODE1 | {"RANK": "0"}
    result = run_script("train_multinode.sh", env=env, check=False)
    assert result.returncode == 1, result.output
    status = Path(ai_platform["WORK_DIR"], "rank-0", "status").read_text()
    assert status.split() == ["failed", "job-master-0.job:23456", "exit", "code", "1"]
    assert [call[0][0] for call in calls()] == ["train", "export"]


@pytest.mark.parametrize("missing", ["MASTER_ADDR", "RANK", "WORLD_SIZE"])
def test_without_distributed_training_it_says_so(run_script, ai_platform, tutorial, tmp_path, missing):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    env = ai_platform | path | {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": "0",
                             "WORLD_SIZE": "2"}
    env.pop(missing)
    result = run_script("train_multinode.sh", env=env, check=False)
    assert result.returncode == 2
    assert f"${missing} is not set" in result.stderr and "节点数 (number of nodes) 2" in result.stderr
    assert not calls()


@pytest.mark.parametrize("bad, words", [
    ("rank-too-big", "RANK is '2' but WORLD_SIZE is 2: RANK must be 0 to 1"),
    ("no-config", "config.json not found"),
    ("dataset-name", "dataset 'scow_identiy' is not in"),
    ("misspelt-key", "has 'filename' where LLaMA-Factory reads \"file_name\""),
    ("read-only", "cannot write to"),
    ("merge-wait", "MERGE_WAIT is '30m'"),
])
def test_bad_inputs_stop_the_node_before_training(request, run_script, ai_platform, tutorial, tmp_path, bad, words):
    path, calls = stub_cli(tmp_path, tutorial.env / "bin")
    if bad == "no-config":
        Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    else:
        request.getfixturevalue("model_folder")
    env = ai_platform | path | {"MASTER_ADDR": "job-master-0.job", "MASTER_PORT": "23456", "RANK": "1",
                             "WORLD_SIZE": "2", "NPROC_PER_NODE": "2"}
    args = []
    if bad == "rank-too-big":
        env["RANK"] = "2"  # before: accepted, and the node waited 600 s at the rendezvous
    elif bad == "dataset-name":
        args = ["dataset=scow_identiy"]
    elif bad == "misspelt-key":  # issue 25: was reported as a missing data file
        info = Path(ai_platform["SCOW_AI_DATASET_PATH"]) / "dataset_info.json"
        entries = json.loads(info.read_text(encoding="utf-8"))
        entries[FACTS["identity_dataset"]]["filename"] = entries[FACTS["identity_dataset"]].pop("file_name")
        info.write_text(json.dumps(entries), encoding="utf-8")
    elif bad == "merge-wait":
        env["MERGE_WAIT"] = "30m"
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
    files = walk.home / "scow-tutorials" / tutorial.folder.name
    assert result.output(0).strip().splitlines()[-1] == str(files)
    assert (files / "check_dataset.py").read_bytes() == (other_tutorial(5).folder / "check_dataset.py").read_bytes()
    page_walk.same_blocks("en", typed={"zh": {"<完整路径>": "P"}, "en": {"<full path>": "P"}})


def test_page_says_what_the_script_does(tutorial):
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        for words in ("qwen3_nothink", "quantization_bit=4", "bf16=false fp16=true", "compute_cap",
                      "rng_state_2.pth", "data_shared_file_system", "HF_DATASETS_CACHE", "MERGE_WAIT=3600",
                      "checkpoint-120", "#err-not-shared", "{{ portal.ai: 分布式训练框架 }}"):
            assert words in text, (page, words)
        assert "doesn't support bf16" not in text and "cutoff_len=512" not in text, page
        # Issue 22: no distributed-training switch; 分布式训练框架 appears once 节点数 > 1.
        assert "开启分布式训练" not in text and "turn on distributed training" not in text.lower(), page
