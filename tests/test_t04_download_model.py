"""Tutorial 4 (downloading a model): check_model.py on a tiny saved model and on damaged copies of it,
and the download commands of the pinned modelscope and huggingface_hub.

tests/fixtures/t04_tiny_model.py saves a tiny random Qwen3 with transformers' save_pretrained, in five
safetensors shards with an index, as a download from ModelScope or Hugging Face looks. Nothing is downloaded.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

SEARCH_PROBES = {"zh": ["ModelScope", "断点续传", "配额"], "en": ["ModelScope", "quota"]}


def check(run_script, folder, code):
    result = run_script("check_model.py", str(folder), check=False)
    assert result.returncode == code, result.output
    assert "Traceback" not in result.output
    return result


def damaged(model: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(model, copy)
    return copy


def test_check_model_on_a_tiny_model_and_damaged_copies(run_script, tmp_path):
    model = tmp_path / "tiny-qwen3"
    saved = json.loads(run_script(str(FIXTURES / "t04_tiny_model.py"), str(model)).stdout.strip().splitlines()[-1])
    shards = saved["shards"]
    assert len(shards) >= 3

    good = check(run_script, model, 0)
    assert "OK: the model folder is complete" in good.stdout
    assert f"Parameters: {saved['parameters']:,} " in good.stdout
    assert "config.json (model_type qwen3, Qwen3ForCausalLM)" in good.stdout
    assert f"dtype {saved['dtype']}" in good.stdout
    for shard in shards:
        assert f"ok      {shard}: " in good.stdout

    # A shard that never arrived.
    copy = damaged(model, tmp_path, "missing-shard")
    (copy / shards[1]).unlink()
    out = check(run_script, copy, 2).output
    assert f"{shards[1]}: missing (the index puts" in out
    assert "run the same download command again" in out
    assert "OK:" not in out

    # A shard cut short, as an interrupted copy leaves it.
    copy = damaged(model, tmp_path, "truncated-shard")
    data = (copy / shards[0]).read_bytes()
    (copy / shards[0]).write_bytes(data[:-100])
    out = check(run_script, copy, 2).output
    assert f"{shards[0]}: truncated: {len(data) - 100} bytes, the header needs {len(data)}" in out

    # No config.json.
    copy = damaged(model, tmp_path, "no-config")
    (copy / "config.json").unlink()
    out = check(run_script, copy, 2).output
    assert "config.json: missing" in out
    assert "1 defect(s)" in out

    # A header that is not a safetensors header, a leftover partial file, no tokenizer: all reported at once.
    copy = damaged(model, tmp_path, "several")
    last = copy / shards[-1]
    last.write_bytes(b"\xff" * 8 + last.read_bytes()[8:])
    (copy / f"{shards[0]}.incomplete").write_bytes(b"\0" * 10)
    (copy / "tokenizer.json").unlink()
    out = check(run_script, copy, 2).output
    assert f"{shards[-1]}: unreadable header" in out
    assert f"unfinished download: {shards[0]}.incomplete" in out
    assert "tokenizer: no tokenizer.json" in out
    assert "3 defect(s)" in out

    # An index whose shards are all there but that names a tensor no shard holds.
    copy = damaged(model, tmp_path, "index-mismatch")
    index = json.loads((copy / "model.safetensors.index.json").read_text())
    index["weight_map"]["model.extra.weight"] = shards[0]
    (copy / "model.safetensors.index.json").write_text(json.dumps(index))
    out = check(run_script, copy, 2).output
    assert f"{shards[0]}: lacks 1 tensor(s) the index puts in it, e.g. model.extra.weight" in out


def test_check_model_needs_a_folder(run_script, tmp_path):
    out = check(run_script, tmp_path / "nowhere", 2).output
    assert "nowhere is not a folder" in out
    empty = tmp_path / "empty"
    empty.mkdir()
    out = check(run_script, empty, 2).output
    assert "config.json: missing" in out and "weights: no model.safetensors" in out


def test_download_commands_of_the_pinned_clients(run_script, tutorial):
    modelscope = run_script("modelscope", "download", "--help")
    for option in ("--local-dir", "--include", "--exclude", "repo_id"):
        assert option in modelscope.stdout
    hf = run_script("hf", "download", "--help")
    for option in ("--local-dir", "--include", "REPO_ID"):
        assert option in hf.stdout
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        assert "modelscope download {{ facts.models.qwen3_4b }} --local-dir {{ facts.t04_model_dir }}" in text
        assert "hf download {{ facts.models.qwen3_4b }} --local-dir {{ facts.t04_model_dir }}" in text
