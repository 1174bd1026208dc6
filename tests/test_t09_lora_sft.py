"""Tutorial 9 (LoRA SFT in a VSCode app): train.sh, merge.sh and ask.py with the real LLaMA-Factory, on CPU.

The environment is the tutorial's requirements.txt (LLaMA-Factory at the image's release). The model is a tiny
random Qwen2 with a byte-level BPE tokenizer and Qwen2.5's chat template, built by a fixture; the dataset is
Tutorial 5's published folder, mounted as $SCOW_AI_DATASET_PATH. The only overrides of sft.yaml: one epoch
instead of twenty (6 steps), fp32 instead of bf16 (CPU) and a loss line every step.
"""

import json
import math
import re
from pathlib import Path

import pytest
import yaml

from fixtures.identity_dataset import FACTS, dataset_check  # noqa: F401  (dataset_check: an autouse fixture)
from fixtures.llamafactory_stub import stub_cli  # the one stand-in llamafactory-cli of Tutorials 9-13
from scow_tutorials import frontmatter as site_frontmatter
from tutorial_fixtures import other_tutorial

FIXTURES = Path(__file__).parent / "fixtures"
LLAMAFACTORY = site_frontmatter.pins(other_tutorial(9).folder / "requirements.txt")["llamafactory"]
QWEN2_LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def answers(output: str) -> list[tuple[str, str]]:
    return re.findall(r"^Q: (.*)\nA: (.*)$", output, re.M)


def test_llamafactory_rejects_a_misspelt_key(run_script, tmp_path):
    """The configs run above are accepted by LLaMA-Factory's parser; a misspelt key is not (the parser stops
    before any model is loaded)."""
    bad = run_script("llamafactory-cli", "train", "sft.yaml", "model_name_or_path=unused",
                     f"output_dir={tmp_path / 'out'}", "bf16=false", "lora_rnak=8", check=False)
    assert bad.returncode != 0 and "lora_rnak" in bad.output
    bad = run_script("llamafactory-cli", "export", "merge.yaml",
                     "model_name_or_path=unused", f"export_dir={tmp_path / 'x'}",
                     "expot_size=1", check=False)
    assert bad.returncode != 0 and "expot_size" in bad.output


def test_scripts_stop_with_a_clear_message(tmp_path, run_script):
    missing = run_script("train.sh", check=False, env={"WORK_DIR": str(tmp_path)})
    assert missing.returncode == 2 and "SCOW_AI_MODEL_PATH is not set" in missing.stderr
    no_info = run_script("train.sh", check=False, env={"SCOW_AI_MODEL_PATH": str(tmp_path),
                                                       "SCOW_AI_DATASET_PATH": str(tmp_path),
                                                       "WORK_DIR": str(tmp_path)})
    assert no_info.returncode == 2 and "dataset_info.json not found" in no_info.stderr
    (tmp_path / "config.json").write_text("{}")  # a model folder, but no adapter yet
    no_adapter = run_script("merge.sh", check=False, env={"SCOW_AI_MODEL_PATH": str(tmp_path),
                                                          "WORK_DIR": str(tmp_path)})
    assert no_adapter.returncode == 2 and "run train.sh first" in no_adapter.stderr
    no_model = run_script("ask.py", check=False)
    assert no_model.returncode == 2 and "SCOW_AI_MODEL_PATH" in no_model.stderr
    (tmp_path / "empty").mkdir()
    not_a_model = run_script("ask.py", "--model", str(tmp_path / "empty"), check=False)
    assert not_a_model.returncode == 2 and "config.json" in not_a_model.stderr


@pytest.fixture
def bad_platform(ai_platform, tmp_path):
    """The app's variables with a model folder that has a config.json (nothing else is needed before the checks)."""
    model = Path(ai_platform["SCOW_AI_MODEL_PATH"])
    model.mkdir()
    (model / "config.json").write_text("{}")
    return ai_platform


def test_ask_names_a_model_without_a_chat_template(run_script, tmp_path):
    """A base model (no chat template) is refused in words before its weights load, not with transformers'
    ValueError from apply_chat_template."""
    base = tmp_path / "base-model"
    run_script(str(FIXTURES / "tiny_qwen2.py"), str(base))
    (base / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((base / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (base / "tokenizer_config.json").write_text(json.dumps(config))
    result = run_script("ask.py", "--model", str(base), "--max-new-tokens", "2", check=False)
    assert result.returncode == 2, result.output
    assert "has no chat template" in result.stderr and "-Instruct" in result.stderr
    assert "Traceback" not in result.output and "Q: " not in result.stdout


@pytest.mark.parametrize("script", ["train.sh", "merge.sh"])
def test_a_folder_without_config_json_is_refused_up_front(run_script, ai_platform, script):
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()  # attached, but not a model folder
    result = run_script(script, check=False, env=ai_platform)
    assert result.returncode == 2, result.output
    assert f"{ai_platform['SCOW_AI_MODEL_PATH']}/config.json not found" in result.stderr


@pytest.mark.parametrize("script", ["train.sh", "merge.sh"])
def test_a_work_dir_that_cannot_be_written_is_refused_up_front(run_script, bad_platform, tmp_path, script):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")  # mkdir under it fails, for root too (a read-only mount fails the same way)
    result = run_script(script, check=False, env=bad_platform | {"WORK_DIR": str(blocked)}, timeout=60)
    assert result.returncode == 2, result.output
    assert f"cannot write to {blocked}/" in result.stderr and "Traceback" not in result.output


def test_a_dataset_missing_from_dataset_info_is_refused_up_front(run_script, bad_platform):
    result = run_script("train.sh", "dataset=scow_identiy", check=False, env=bad_platform, timeout=60)
    assert result.returncode == 2, result.output
    assert "dataset 'scow_identiy' is not in" in result.stderr and "dataset=NAME" in result.stderr
    assert "KeyError" not in result.output


def test_a_dataset_file_that_is_missing_is_refused_up_front(run_script, bad_platform):
    (Path(bad_platform["SCOW_AI_DATASET_PATH"]) / FACTS["identity_file"]).unlink()
    result = run_script("train.sh", check=False, env=bad_platform, timeout=60)
    assert result.returncode == 2, result.output
    assert f"{FACTS['identity_file']} not found" in result.stderr


def test_train_checks_the_dataset_with_tutorial_5s_checker(run_script, bad_platform, tmp_path):
    """train.sh hands sft.yaml and the reader's arguments to check_dataset.py: a misspelt key of
    dataset_info.json is named, and `dataset=a, b` (a space after the comma) reaches LLaMA-Factory as given."""
    info = Path(bad_platform["SCOW_AI_DATASET_PATH"]) / "dataset_info.json"
    good = info.read_text(encoding="utf-8")
    info.write_text(good.replace('"file_name"', '"filename"'), encoding="utf-8")
    path, calls = stub_cli(tmp_path, other_tutorial(9).env / "bin")
    result = run_script("train.sh", check=False, env=bad_platform | path, timeout=60)
    assert result.returncode == 2, result.output
    assert "has 'filename' where LLaMA-Factory reads \"file_name\"" in result.stderr and not calls()
    info.write_text(good, encoding="utf-8")
    two = f"dataset={FACTS['identity_dataset']}, {FACTS['identity_dataset']}"
    result = run_script("train.sh", two, env=bad_platform | path, timeout=60)
    assert result.stdout.count(f"dataset {FACTS['identity_dataset']}: ") == 2
    assert calls()[0][0][-1] == two


def test_train_without_the_checker_warns_and_trains(run_script, bad_platform, workdir, tmp_path):
    (workdir / "check_dataset.py").unlink()
    path, calls = stub_cli(tmp_path, other_tutorial(9).env / "bin")
    result = run_script("train.sh", env=bad_platform | path, timeout=60)
    assert "check_dataset.py not found" in result.stderr and "Tutorial 5" in result.stderr
    assert len(calls()) == 1


def test_the_keys_and_template_the_page_offers_exist(tutorial, run_script, ai_platform):
    """quantization_bit (QLoRA), bf16/fp16 and the qwen3_nothink template for Tutorial 4's model are accepted by
    the pinned LLaMA-Factory's parser."""
    Path(ai_platform["SCOW_AI_MODEL_PATH"]).mkdir()
    paths = [f"model_name_or_path={ai_platform['SCOW_AI_MODEL_PATH']}",
             f"dataset_dir={ai_platform['SCOW_AI_DATASET_PATH']}", "output_dir=out"]
    result = run_script(str(FIXTURES / "llamafactory_parse_configs.py"),
                        "train", "sft.yaml", *paths, "bf16=false", "fp16=false",
                        "+", "train", "sft.yaml", *paths, "bf16=false", "template=qwen3_nothink",
                        "+", "train", "sft.yaml", *paths, "bf16=false", "template=qwen3_nothinkk")
    plain, qwen3, misspelt = json.loads(result.stdout.strip().splitlines()[-1])
    assert plain["template_exists"] and qwen3["template_exists"] and not misspelt["template_exists"]
    assert "quantization_bit" in plain and plain["quantization_bit"] is None
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        for words in ("qwen3_nothink", "quantization_bit=4", "bf16=false fp16=true", "compute_cap"):
            assert words in text, (page, words)
        assert "doesn't support bf16" not in text, page  # bf16 is emulated on V100/T4, it does not stop


def test_pins_are_the_images_release(tutorial):
    pins = dict(line.split("==") for line in (tutorial.folder / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert FACTS["images"]["llamafactory"].endswith(":" + pins["llamafactory"])  # the image's release
    assert pins["torch"] == FACTS["torch"] and pins["torchvision"] == FACTS["torchvision"]


def test_page_table_is_the_config(tutorial):
    """The hyper-parameter table on both pages shows sft.yaml's values (Tutorial 11 compares with it too)."""
    sft = yaml.safe_load((tutorial.folder / "sft.yaml").read_text())
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        rows = dict(re.findall(r"^\s*\| `(\w+)` \| `([^`]+)` \|", text, re.M))
        assert len(rows) >= 10, page
        for key, shown in rows.items():
            assert yaml.safe_load(shown) == sft[key], (page, key, shown, sft[key])


SEARCH_PROBES = {"zh": ["LoRA 微调", "LoRA", "LLaMA-Factory", "合并"], "en": ["LoRA fine-tuning", "merge adapter"]}


def test_page_walk(page_walk, tutorial, ai_platform, run_script, tmp_path):
    """The Chinese page in page order: the model downloaded on the login node (stand-in modelscope hands out the
    tiny model), the files downloaded there, then the app's container, which sees only WORK_DIR, the attached model
    and dataset and the mount point the reader added (the files' folder). Training itself needs a GPU for bf16:
    the test trains the same way on CPU (fp32, one epoch, a loss line every step) into the app's WORK_DIR after the
    first question; then the page's questions with the adapter, the merge and the merged model's answers. The
    training log, the adapter and the merge are checked against sft.yaml and the page's numbers."""
    tiny = tmp_path / "tiny-qwen2"
    dataset = Path(ai_platform["SCOW_AI_DATASET_PATH"])
    run_script(str(FIXTURES / "tiny_qwen2.py"), str(tiny), str(dataset / FACTS["identity_file"]))
    walk = page_walk(models={FACTS["models"]["qwen25_1_5b"]: tiny})
    files = walk.home / "scow-tutorials" / tutorial.folder.name
    walk.typed = {"<完整路径>": str(files)}
    walk.model = walk.home / FACTS["t09_model_dir"].removeprefix("~/")  # registered as a model, attached to the app
    walk.dataset, walk.mount = dataset, files
    work, trained = walk.work_dir, {}

    def train_on_cpu():
        env = {"SCOW_AI_MODEL_PATH": str(walk.model), "SCOW_AI_DATASET_PATH": str(dataset), "WORK_DIR": str(work)}
        trained["run"] = run_script("train.sh", "num_train_epochs=1", "bf16=false", "logging_steps=1", env=env,
                                    cwd=files, timeout=900)

    walk.after = {3: train_on_cpu}
    result = walk.run()
    assert result.output(1).strip().splitlines()[-1] == str(files)
    check = result.output(2)
    assert "name, compute_cap" in check and LLAMAFACTORY in check
    assert "model:   /mnt/scow/model" in check and f"workdir: {work}" in check
    assert {"ask.py", "check_dataset.py", "merge.sh", "merge.yaml", "sft.yaml", "train.sh"} <= set(check.split())
    before = result.output(3)
    assert "adapter: (none)" in before and [q for q, _ in answers(before)] == ["你好，你是谁？", "Who are you?"]

    # The training log: the lines the page tells the reader to look for, and its numbers times the config's epochs.
    sft = yaml.safe_load((tutorial.folder / "sft.yaml").read_text())
    train, adapter = trained["run"], work / "saves" / "scow-identity-lora"
    log = train.output
    records = json.loads((dataset / FACTS["identity_file"]).read_text())
    assert f"Num examples = {len(records)}" in log
    assert f"Total train batch size (w. parallel, distributed & accumulation) = " \
           f"{sft['per_device_train_batch_size'] * sft['gradient_accumulation_steps']}" in log
    steps = int(re.search(r"Total optimization steps = (\d+)", log).group(1))
    assert steps == len(records) // sft["gradient_accumulation_steps"]
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        assert f"Num examples = {len(records)}" in text
        assert f"Total optimization steps = {steps * int(sft['num_train_epochs'])}" in text
    assert "train metrics" in log and "{'loss': " in log
    assert f"output:  {adapter}" in train.stdout
    assert f"dataset {FACTS['identity_dataset']}: {FACTS['identity_file']}, {len(records)} records (alpaca)" \
        in train.stdout
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == sft["lora_rank"] and set(config["target_modules"]) == QWEN2_LINEAR
    losses = [json.loads(line)["loss"] for line in (adapter / "trainer_log.jsonl").read_text().splitlines()
              if '"loss"' in line]
    assert len(losses) == steps and all(math.isfinite(x) and x > 0 for x in losses)
    assert (adapter / "training_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The loss curve: VSCode's file list starts at /root, so the page prints the picture's full path under WORK_DIR.
    listed = result.output(5).split()
    assert {"adapter_model.safetensors", "training_loss.png"} <= set(listed)
    assert listed[-1] == f"{work}/saves/scow-identity-lora/training_loss.png"
    after = result.output(6)
    assert f"adapter: {adapter}" in after and len(answers(after)) == 2
    merged = work / "merged" / "scow-identity"
    assert f"merged model: {merged}" in result.output(8).splitlines()
    assert (merged / "config.json").is_file() and list(merged.glob("*.safetensors"))
    check = run_script(str(FIXTURES / "t09_check_merge.py"), str(walk.model), str(adapter), str(merged))
    merged_check = json.loads(check.stdout.strip().splitlines()[-1])
    assert merged_check["layers"] == 2 * len(QWEN2_LINEAR)  # 2 layers in the tiny model
    assert merged_check["max_error"] < 1e-5 and merged_check["min_delta"] > 0
    # The merged model answers as the model with the adapter did (greedy decoding; compared on their beginnings).
    assert [(q, a[:20]) for q, a in answers(result.output(8))] == [(q, a[:20]) for q, a in answers(after)]
    assert not list(walk.home.glob("scow-tutorials/*/saves")), "outputs must go to WORK_DIR, not the mount point"
    page_walk.same_blocks("en", typed={"zh": {"<完整路径>": "P"}, "en": {"<full path>": "P"}})
