"""The words the hooks write into pages, in each language (catalog, card values, verification line); the card's
field labels are declared with the fields (``schema.FIELDS``)."""

from __future__ import annotations

from typing import Any

# Language -> key -> a string, or a mapping of strings (platforms, the verification line).
TEXT: dict[str, dict[str, Any]] = {
    "zh": {
        "platform": {"hpc": "超算平台", "ai": "智算平台", "both": "超算平台 + 智算平台"},
        "no_gpu": "无需 GPU",
        "one_node": {1: "单机单卡"},
        "one_node_n": "单机 {g} 卡",
        "multi_node": "{n} 机 × 每机 {g} 卡",
        "minutes": "约 {m} 分钟",
        "tutorial": "教程 {n}",
        "none": "无",
        "card_label": "教程信息",
        "catalog_number": "编号",
        "catalog_tutorial": "教程",
        "verified": {
            "ci": "CI 在 CPU 上运行 {files}",
            "no_ci": "CI 不运行本页的代码",
            "join": "、",
            "sep_open": "（",
            "sep_close": "）",
            "sep": "；",
            "end": "。",
            "slurm": "{files} 在 CI 的 Slurm 中作为批处理作业运行",
            "no_gpu": "尚未在 GPU 上运行",
            "gpu": "{date} 在 {hardware} 上运行过",
            "gpu_stale": "{date} 在 {hardware} 上运行过的是本页文件的旧版本，当前版本尚未在 GPU 上运行",
            "gpu_failed": "{date} 在 {hardware} 上运行过，{total} 项 GPU 测试中有 {failed} 项失败",
            "record": "运行记录",
        },
    },
    "en": {
        "platform": {"hpc": "HPC platform", "ai": "AI platform", "both": "HPC platform + AI platform"},
        "no_gpu": "No GPU needed",
        "one_node": {1: "1 node × 1 GPU"},
        "one_node_n": "1 node × {g} GPUs",
        "multi_node": "{n} nodes × {g} GPUs",
        "minutes": "about {m} min",
        "tutorial": "Tutorial {n}",
        "none": "None",
        "card_label": "Tutorial card",
        "catalog_number": "No.",
        "catalog_tutorial": "Tutorial",
        "verified": {
            "ci": "CI runs {files} on CPU",
            "no_ci": "CI runs no code of this page",
            "join": ", ",
            "sep_open": " (",
            "sep_close": ")",
            "sep": ". ",
            "end": ".",
            "slurm": "{files} ran as a batch job under Slurm in CI",
            "no_gpu": "Not yet run on a GPU",
            "gpu": "Ran on {hardware} on {date}",
            "gpu_stale": "An older version of this page's files ran on {hardware} on {date}; the current version has "
            "not yet run on a GPU",
            "gpu_failed": "Ran on {hardware} on {date}: {failed} of {total} GPU tests failed",
            "record": "the run's record",
        },
    },
}


def resources_text(res: dict[str, int], lang: str) -> str:
    t = TEXT[lang]
    nodes, gpus = res["nodes"], res["gpus"]
    if gpus == 0:
        return t["no_gpu"] if nodes == 1 else t["multi_node"].format(n=nodes, g=0)
    if nodes == 1:
        return t["one_node"].get(gpus) or t["one_node_n"].format(g=gpus)
    return t["multi_node"].format(n=nodes, g=gpus)
