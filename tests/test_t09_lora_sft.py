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
from mkdocs.config import load_config

from tutorial_fixtures import ROOT

FIXTURES = Path(__file__).parent / "fixtures"
FACTS = load_config(str(ROOT / "mkdocs.yml"))["extra"]["facts"]
QWEN2_LINEAR = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


def answers(output: str) -> list[tuple[str, str]]:
    return re.findall(r"^Q: (.*)\nA: (.*)$", output, re.M)


@pytest.fixture
def platform(ai_platform, run_script):
    """The app's environment (Tutorial 5's dataset attached, a WORK_DIR) with a tiny model attached."""
    dataset = Path(ai_platform["SCOW_AI_DATASET_PATH"])
    run_script(str(FIXTURES / "tiny_qwen2.py"), ai_platform["SCOW_AI_MODEL_PATH"], str(dataset / FACTS["identity_file"]))
    return ai_platform


def test_train_ask_merge_end_to_end(tutorial, platform, run_script):
    work = Path(platform["WORK_DIR"])
    before = run_script("ask.py", "--max-new-tokens", "8", env=platform)
    assert "adapter: (none)" in before.stdout
    assert [q for q, _ in answers(before.stdout)] == ["你好，你是谁？", "Who are you?"]

    sft = yaml.safe_load((tutorial.folder / "sft.yaml").read_text())
    train = run_script("train.sh", "num_train_epochs=1", "bf16=false", "logging_steps=1", env=platform)
    log = train.output
    records = json.loads((Path(platform["SCOW_AI_DATASET_PATH"]) / FACTS["identity_file"]).read_text())
    assert f"Num examples = {len(records)}" in log
    assert f"Total train batch size (w. parallel, distributed & accumulation) = " \
           f"{sft['per_device_train_batch_size'] * sft['gradient_accumulation_steps']}" in log
    steps = int(re.search(r"Total optimization steps = (\d+)", log).group(1))
    assert steps == len(records) // sft["gradient_accumulation_steps"]
    # The page's numbers are this run's numbers times the config's epochs.
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        assert f"Num examples = {len(records)}" in text
        assert f"Total optimization steps = {steps * int(sft['num_train_epochs'])}" in text
    assert "train metrics" in log and "{'loss': " in log  # the lines the page tells the reader to look for

    adapter = work / "saves" / "scow-identity-lora"
    assert f"output:  {adapter}" in train.stdout
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["r"] == sft["lora_rank"] and set(config["target_modules"]) == QWEN2_LINEAR
    losses = [json.loads(line)["loss"] for line in (adapter / "trainer_log.jsonl").read_text().splitlines()
              if '"loss"' in line]
    assert len(losses) == steps and all(math.isfinite(x) and x > 0 for x in losses)
    assert (adapter / "training_loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    after = run_script("ask.py", "--adapter", str(adapter), "--max-new-tokens", "8", env=platform)
    assert f"adapter: {adapter}" in after.stdout and len(answers(after.stdout)) == 2

    merge = run_script("merge.sh", env=platform)
    merged = work / "merged" / "scow-identity"
    assert merge.stdout.strip().endswith(f"merged model: {merged}")
    assert (merged / "config.json").is_file() and list(merged.glob("*.safetensors"))
    check = run_script(str(FIXTURES / "t09_check_merge.py"), platform["SCOW_AI_MODEL_PATH"], str(adapter),
                       str(merged))
    merged_check = json.loads(check.stdout.strip().splitlines()[-1])
    assert merged_check["layers"] == 2 * len(QWEN2_LINEAR)  # 2 layers in the tiny model
    assert merged_check["max_error"] < 1e-5 and merged_check["min_delta"] > 0

    from_merged = run_script("ask.py", "--model", str(merged), "--max-new-tokens", "8", env=platform)
    assert answers(from_merged.stdout) == answers(after.stdout)


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
    no_adapter = run_script("merge.sh", check=False, env={"SCOW_AI_MODEL_PATH": str(tmp_path),
                                                          "WORK_DIR": str(tmp_path)})
    assert no_adapter.returncode == 2 and "run train.sh first" in no_adapter.stderr
    no_model = run_script("ask.py", check=False)
    assert no_model.returncode == 2 and "SCOW_AI_MODEL_PATH" in no_model.stderr
    not_a_model = run_script("ask.py", "--model", str(tmp_path), check=False)
    assert not_a_model.returncode == 2 and "config.json" in not_a_model.stderr


def test_pins_are_the_images_release(tutorial):
    pins = dict(line.split("==") for line in (tutorial.folder / "requirements.txt").read_text().splitlines()
                if line and not line.startswith("#"))
    assert pins["llamafactory"] == FACTS["t09_llamafactory"]
    assert FACTS["images"]["llamafactory"].endswith(":" + FACTS["t09_llamafactory"])
    assert pins["torch"] == FACTS["torch"] and pins["torchvision"] == FACTS["torchvision"]


def test_page_table_is_the_config(tutorial):
    """The hyper-parameter table on both pages shows sft.yaml's values (Tutorial 11 compares with it too)."""
    sft = yaml.safe_load((tutorial.folder / "sft.yaml").read_text())
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)` \|", text, re.M))
        assert len(rows) >= 10, page
        for key, shown in rows.items():
            assert yaml.safe_load(shown) == sft[key], (page, key, shown, sft[key])


SEARCH_PROBES = {"zh": ["LoRA 微调", "LoRA", "LLaMA-Factory", "合并"], "en": ["LoRA fine-tuning", "merge adapter"]}
