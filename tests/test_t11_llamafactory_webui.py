"""Tutorial 11 (LLaMA-Factory web UI): no script; the values the page tells the reader to enter are Tutorial 9's
config, and the interface texts it quotes are LLaMA-Factory's own.

The labels are read from LLaMA-Factory's source in Tutorial 9's environment (the release the image carries):
``webui/locales.py`` (labels, buttons, messages), ``extras/constants.py`` (training stages) and ``webui/runner.py``
(what an empty "LoRA modules" field means).
"""

import ast
import json
import re
from pathlib import Path

import pytest
import yaml

from scow_tutorials import envs
from scow_tutorials import frontmatter as site_frontmatter
from tutorial_fixtures import facts, other_tutorial

FACTS = facts()
LLAMAFACTORY = site_frontmatter.pins(other_tutorial(9).folder / "requirements.txt")["llamafactory"]
PAGES = {"zh": "index.md", "en": "index.en.md"}
ROW = re.compile(r"^\| ([^|`]+?) \| (`[^`]+`|[^|`]+?) \| `(\w+)` \|$", re.M)
EMPTY = {"zh": "留空", "en": "empty"}
# Interface texts the page quotes in bold or in quotes, per language.
QUOTED = {
    "zh": ["加载模型", "卸载模型", "提交", "输入...", "预览数据集", "预览命令", "开始", "中断", "其它参数设置",
           "LoRA 参数设置", "损失", "温度系数", "Top-p 采样值", "导出目录", "开始导出", "语言",
           "模型已加载，可以开始聊天了！", "模型已卸载。", "训练完毕。", "模型导出完成。", "模型未找到。", "加载中……",
           "请选择数据集。", "输出目录已存在，将从该断点恢复训练。", "训练出错。",
           "LLaMA Factory: 一站式大模型高效微调平台", "量化等级", "对话模板", "数据路径"],
    "en": ["Load model", "Unload model", "Submit", "Input...", "Preview dataset", "Preview command", "Start", "Abort",
           "Extra configurations", "LoRA configurations", "Loss", "Temperature", "Top-p", "Export dir", "Export",
           "Language", "Model loaded, now you can chat with your model!", "Model unloaded.", "Finished.",
           "Model exported.", "Model not found.", "Loading model...", "Please choose a dataset.",
           "Output dir already exists, will resume training from here.", "Failed.",
           "LLaMA Factory: Unified Efficient Fine-Tuning of 100+ LLMs", "Quantization bit", "Chat template", "Data dir"],
}
TABS = ["Train", "Chat", "Export"]


def literal(path: Path, name: str):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if getattr(target, "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} not found in {path}")


@pytest.fixture(scope="module")
def llamafactory() -> Path:
    """LLaMA-Factory's package folder in Tutorial 9's environment."""
    env = envs.ensure_env(other_tutorial(9).folder)
    (package,) = env.glob("lib/python*/site-packages/llamafactory")
    (dist,) = env.glob(f"lib/python*/site-packages/llamafactory-{LLAMAFACTORY}.dist-info")
    assert dist.is_dir()
    return package


@pytest.fixture(scope="module")
def texts(llamafactory) -> dict[str, set[str]]:
    """Every label, button text, placeholder and message of the web UI, per language."""
    found = {"zh": set(), "en": set()}
    for table in ("LOCALES", "ALERTS"):
        for entry in literal(llamafactory / "webui" / "locales.py", table).values():
            for lang in found:
                value = entry.get(lang)
                if isinstance(value, str):
                    found[lang].add(value)
                elif isinstance(value, dict):
                    found[lang] |= {v for k, v in value.items() if k in {"label", "value", "placeholder"}
                                    and isinstance(v, str)}
    for lang in found:  # the title is HTML with emoji: keep its text too
        found[lang] |= {re.sub(r"<[^>]+>", "", v).strip().lstrip("\U0001f999\U0001f3ed") for v in found[lang]}
    return found


def rows(page: Path) -> list[tuple[str, str, str]]:
    return ROW.findall(page.read_text(encoding="utf-8"))


def sft_config() -> dict:
    return yaml.safe_load((other_tutorial(9).folder / "sft.yaml").read_text(encoding="utf-8"))


def total_steps(sft: dict) -> int:
    records = json.loads((other_tutorial(5).folder / FACTS["identity_file"]).read_text(encoding="utf-8"))
    per_epoch = len(records) // (sft["per_device_train_batch_size"] * sft["gradient_accumulation_steps"])
    return per_epoch * int(sft["num_train_epochs"])


@pytest.mark.parametrize("lang", PAGES)
def test_values_equal_tutorial_9s_config(tutorial, llamafactory, lang):
    sft = sft_config()
    stages = literal(llamafactory / "extras" / "constants.py", "TRAINING_STAGES")
    runner = (llamafactory / "webui" / "runner.py").read_text(encoding="utf-8")
    compared = set()
    for label, shown, key in rows(tutorial.folder / PAGES[lang]):
        value = shown.strip("`")
        if key == "stage":
            assert stages[value] == sft["stage"]
        elif key == "learning_rate" or key == "num_train_epochs":
            assert float(value) == float(sft[key]), (label, value, sft[key])
        elif key == "bf16":
            assert (value == "bf16") == sft["bf16"]
        elif key == "warmup_ratio":
            # The interface has warm-up steps only: the page gives warmup_ratio x Tutorial 9's total steps.
            assert int(value) == round(sft["warmup_ratio"] * total_steps(sft)), (value, total_steps(sft))
        elif key == "lora_target":
            assert value == EMPTY[lang] and sft["lora_target"] == "all"
            assert 'get("train.lora_target") or "all"' in runner
        elif key in sft:
            assert type(sft[key])(value) == sft[key], (label, value, sft[key])
        else:  # paths: passed on the command line in Tutorial 9, mount paths here
            assert key in {"model_name_or_path", "dataset_dir", "adapter_name_or_path", "output_dir"}, key
            assert not shown.startswith("`") or key == "output_dir", (label, shown)
            continue
        compared.add(key)
    ui_settable = {"stage", "finetuning_type", "lora_target", "dataset", "template", "cutoff_len", "max_samples",
                   "learning_rate", "num_train_epochs", "per_device_train_batch_size", "lr_scheduler_type",
                   "gradient_accumulation_steps", "warmup_ratio", "bf16", "lora_rank", "logging_steps", "save_steps"}
    assert ui_settable <= set(sft) and compared == ui_settable, sorted(ui_settable ^ compared)


@pytest.mark.parametrize("lang", PAGES)
def test_labels_are_the_interfaces_own(tutorial, texts, lang):
    page = (tutorial.folder / PAGES[lang]).read_text(encoding="utf-8")
    labels = [label for label, _, _ in rows(tutorial.folder / PAGES[lang])]
    assert len(labels) >= 20
    missing = [label for label in labels if label not in texts[lang]]
    assert not missing, f"{PAGES[lang]}: not labels of the web UI: {missing}"
    for text in QUOTED[lang]:
        assert text in texts[lang], f"{text!r} is not a text of the web UI ({lang})"
        assert text in page, f"{PAGES[lang]} no longer quotes {text!r}: update QUOTED"
    for tab in TABS:
        assert f"**{tab}**" in page


@pytest.mark.parametrize("lang", PAGES)
def test_paths_templates_and_precision_are_told_right(tutorial, llamafactory, lang):
    """Results of LLaMA Board go under a relative saves/ (webui/common.py); the page says to export to an absolute path
    under WORK_DIR, to check pre-filled paths, the qwen3_nothink template (a template of the pinned release) for
    Tutorial 4's model, and fp16 from the start below compute capability 8.0 (bf16 is emulated there, no error)."""
    page = (tutorial.folder / PAGES[lang]).read_text(encoding="utf-8")
    assert 'DEFAULT_SAVE_DIR = "saves"' in (llamafactory / "webui" / "common.py").read_text(encoding="utf-8")
    assert 'name="qwen3_nothink"' in (llamafactory / "data" / "template.py").read_text(encoding="utf-8")
    assert "`saves/Qwen2.5-1.5B-Instruct/lora/scow-identity-lora`" in page
    for words in ("$WORK_DIR", "/merged/scow-identity", "qwen3_nothink", "compute_cap", "`fp16`",
                  {"zh": "预先填好", "en": "already be filled in"}[lang]):
        assert words in page, (lang, words)
    assert "doesn't support bf16" not in page


@pytest.mark.parametrize("lang", PAGES)
def test_the_model_is_exported_to_the_mount_point_the_reader_knows(tutorial, lang):
    """The app has no terminal and the public release shows no job 详情 (Details): the page adds a mount point whose
    full path the reader printed in Tutorial 9, exports there, and does not state where saves/ ends up as a fact."""
    page = (tutorial.folder / PAGES[lang]).read_text(encoding="utf-8")
    placeholder = {"zh": "<完整路径>", "en": "<full path>"}[lang]
    form = re.search(r"```portal-form ai-app\n(.*?)```", page, re.S)
    assert form and re.search(rf"^挂载点: .*`{placeholder}`", form.group(1), re.M), "the app form adds the mount point"
    assert f"`{placeholder}/merged/scow-identity`" in page
    assert "详情" not in page and "Details" not in page
    hedge = {"zh": "本站没有在真实的应用里核对", "en": "was not checked in a real app here"}[lang]
    assert hedge in page
    for claim in ("应用结束后就找不到了", "is gone once the app ends"):
        assert claim not in page


def test_says_the_app_is_in_development(tutorial):
    assert "开发中" in (tutorial.folder / "index.md").read_text(encoding="utf-8")
    assert "in development" in (tutorial.folder / "index.en.md").read_text(encoding="utf-8")


SEARCH_PROBES = {"zh": ["网页 界面", "检查点", "预热 步数"], "en": ["web UI", "LLaMA Board", "Preview command"]}
