"""Tutorial 4 (downloading a model): check_model.py on a tiny saved model and on damaged copies of it,
and the download commands of the pinned modelscope and huggingface_hub.

tests/fixtures/t04_tiny_model.py saves a tiny random Qwen3 with transformers' save_pretrained, in five
safetensors shards with an index, as a download from ModelScope or Hugging Face looks. Nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from tutorial_fixtures import facts, record_or_compare

FACTS = facts()

FIXTURES = Path(__file__).parent / "fixtures"

SEARCH_PROBES = {"zh": ["完整性", "ModelScope", "配额"], "en": ["quota", "ModelScope"]}


def check(run_script, folder, code):
    result = run_script("check_model.py", str(folder), check=False)
    assert result.returncode == code, result.output
    assert "Traceback" not in result.output
    return result


def damaged(model: Path, tmp_path: Path, name: str) -> Path:
    copy = tmp_path / name
    shutil.copytree(model, copy)
    return copy


def test_check_model_on_a_tiny_model_and_damaged_copies(tutorial, run_script, workdir, tmp_path):
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
    # What the page shows: this run, from the folder's own name (the test's tmp path is not shown).
    shutil.copytree(model, workdir / "tiny-qwen3")
    shown = run_script("check_model.py", "tiny-qwen3")
    record_or_compare(tutorial.folder / "example_check_ok.txt", f"$ python check_model.py tiny-qwen3\n{shown.output}")

    # A shard that never arrived.
    copy = damaged(model, tmp_path, "missing-shard")
    (copy / shards[1]).unlink()
    out = check(run_script, copy, 2).output
    assert f"{shards[1]}: missing (the index puts" in out
    assert "run the same download command again" in out
    assert "OK:" not in out
    shutil.copytree(copy, workdir / "missing-shard")
    shown = run_script("check_model.py", "missing-shard", check=False)
    record_or_compare(tutorial.folder / "example_check_missing.txt",
                      f"$ python check_model.py missing-shard\n{shown.stdout}{shown.stderr}")

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


def test_bin_models_pass_and_empty_indexes_fail(run_script, tmp_path):
    """Complete PyTorch .bin models (one file, or shards with an index, as Tutorial 2's CLIP download has it)
    are OK; an index that names no weights, or a config.json that is not an object, is FAILED."""
    model = tmp_path / "tiny"
    run_script(str(FIXTURES / "t04_tiny_model.py"), str(model), "--bin")
    single, sharded = tmp_path / "tiny-bin", tmp_path / "tiny-bin-sharded"
    out = check(run_script, single, 0).stdout
    assert "ok      pytorch_model.bin: " in out and "PyTorch .bin" in out
    assert "OK: the model folder is complete" in out and "Parameters: not counted" in out
    out = check(run_script, sharded, 0).stdout
    assert "ok      pytorch_model.bin.index.json: " in out and "in 2 files" in out
    assert "ok      pytorch_model-00002-of-00002.bin: " in out and "OK: the model folder is complete" in out

    (sharded / "pytorch_model-00002-of-00002.bin").unlink()
    out = check(run_script, sharded, 2).output
    assert "pytorch_model-00002-of-00002.bin: missing" in out
    (single / "pytorch_model.bin").write_bytes(b"\0" * 100)
    assert "pytorch_model.bin: only 100 bytes" in check(run_script, single, 2).output

    empty = damaged(model, tmp_path, "empty-index")
    (empty / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": {}}))
    out = check(run_script, empty, 2).output
    assert "model.safetensors.index.json: an empty weight_map, so it names no weight files" in out
    assert "OK:" not in out

    listed = damaged(model, tmp_path, "config-list")
    (listed / "config.json").write_text("[]")
    out = check(run_script, listed, 2).output
    assert "config.json: a JSON list, not the model's settings" in out and "OK:" not in out


def flip_byte_inside(path: Path, member_suffix: str) -> str:
    """Change one byte of a zip member's stored data (as a bad copy would), leaving the zip directory intact."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(member_suffix) and i.file_size > 0)
    data = bytearray(path.read_bytes())
    name_len, extra_len = struct.unpack("<HH", data[info.header_offset + 26: info.header_offset + 30])
    start = info.header_offset + 30 + name_len + extra_len
    data[start] ^= 0xFF
    path.write_bytes(bytes(data))
    return info.filename


def test_broken_weights_are_defects(run_script, tmp_path):
    """Issue 25 (5): a pytorch_model.bin of random bytes, cut short or with a changed byte, and a safetensors
    file that lists no tensors are FAILED, not OK; a .bin in PyTorch's pre-1.6 format still passes. Nothing
    is unpickled (a .bin holding a pickle that would write a file on loading leaves no file behind)."""
    import struct

    model = tmp_path / "tiny"
    run_script(str(FIXTURES / "t04_tiny_model.py"), str(model), "--bin")
    single = tmp_path / "tiny-bin"
    good = (single / "pytorch_model.bin").read_bytes()
    out = check(run_script, single, 0).stdout
    assert "zip archive," in out and "checksums match" in out

    (single / "pytorch_model.bin").write_bytes(os.urandom(64 * 1024))
    out = check(run_script, single, 2).output
    assert "pytorch_model.bin: neither a complete zip archive" in out and "OK:" not in out

    (single / "pytorch_model.bin").write_bytes(good[: len(good) // 2])  # an interrupted copy
    out = check(run_script, single, 2).output
    assert "pytorch_model.bin: neither a complete zip archive" in out and "OK:" not in out

    (single / "pytorch_model.bin").write_bytes(good)
    member = flip_byte_inside(single / "pytorch_model.bin", "/data/0")
    out = check(run_script, single, 2).output
    assert f"pytorch_model.bin: damaged: {member} inside it does not match its checksum" in out, out

    sharded = tmp_path / "tiny-bin-sharded"
    flip_byte_inside(sharded / "pytorch_model-00001-of-00002.bin", "/data/0")
    out = check(run_script, sharded, 2).output
    assert "pytorch_model-00001-of-00002.bin: damaged:" in out and "1 defect(s)" in out

    # PyTorch's format before 1.6 is a plain pickle stream: recognised by its first bytes, never loaded.
    marker = tmp_path / "unpickled"
    legacy = (b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19."
              + f"cos\nsystem\n(Vtouch {marker}\ntR.".encode() + b"\0" * 2048)
    (single / "pytorch_model.bin").write_bytes(legacy)
    out = check(run_script, single, 0).stdout
    assert "pre-1.6 format" in out and not marker.exists()

    # A safetensors file whose header lists no tensors (here with only __metadata__): no weights at all.
    empty = damaged(model, tmp_path, "no-tensors")
    for path in list(empty.glob("*.safetensors")) + [empty / "model.safetensors.index.json"]:
        path.unlink()
    header = json.dumps({"__metadata__": {"format": "pt"}}).encode()
    (empty / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    out = check(run_script, empty, 2).output
    assert "model.safetensors: lists no tensors, so it holds no weights" in out and "OK:" not in out


def test_parent_folder_gets_a_hint(run_script, tmp_path):
    models = tmp_path / "models"
    run_script(str(FIXTURES / "t04_tiny_model.py"), str(models / "Qwen3-4B-Instruct-2507"))
    out = check(run_script, models, 2).stderr
    assert f"Did you mean {models / 'Qwen3-4B-Instruct-2507'}?" in out
    out = check(run_script, models / "Qwen3-4B-Instruct-2507", 0).stdout
    assert "Did you mean" not in out


def test_page_shows_the_recorded_runs(tutorial):
    for lang in ("zh", "en"):
        page = tutorial.page_text(lang)
        for name in ("example_check_ok.txt", "example_check_missing.txt"):
            assert f'--8<-- "tutorials/{tutorial.slug}/{name}"' in page, (lang, name)
        assert "modelscope=={{ pin.modelscope }}" in page and not re.search(r"modelscope==\d", page)
        assert "HF_HUB_DISABLE_XET=1" in page


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
        text = re.sub(r" \\\n\s+", " ", (tutorial.folder / page).read_text(encoding="utf-8"))  # joined lines
        assert "modelscope download {{ facts.models.qwen3_4b }} --local-dir {{ facts.t04_model_dir }}" in text
        assert "hf download {{ facts.models.qwen3_4b }} --local-dir {{ facts.t04_model_dir }}" in text


def test_the_older_modelscope_form_is_accepted_without_a_notice(run_script, tutorial):
    """Issue 25: the page said `modelscope download --model ... --local_dir ...` prints a deprecation notice; the
    pinned client accepts it silently (the same download starts as with the current form). Against an address
    where nothing listens, both forms fail the same way after naming the same snapshot, and neither says
    'deprecated'. The page says so, and uses the current form everywhere."""
    outputs = []
    for form in (["--model", "Qwen/Tiny", "--local_dir", "dl"], ["Qwen/Tiny", "--local-dir", "dl"]):
        result = run_script("modelscope", "download", *form, check=False, timeout=120,
                            env={"MODELSCOPE_ENDPOINT": "http://127.0.0.1:9"})
        assert result.returncode != 0 and "Downloading snapshot of Qwen/Tiny (model)" in result.output, result.output
        assert "deprecat" not in result.output.lower()
        outputs.append(result.output)
    for lang, silent in (("zh", "运行时不打印任何提示"), ("en", "prints no notice when it runs")):
        page = tutorial.page_text(lang)
        assert silent in page and "--model <" in page
        # the older form appears only in that note, with placeholders, never as a command to run
        assert re.findall(r"modelscope download --model \S+", page) == ["modelscope download --model <模型"
                                                                         if lang == "zh" else
                                                                         "modelscope download --model <model"]
        assert "会提示它已过时" not in page and "warns that it is deprecated" not in page


CA_BUNDLE = {k: os.environ[k] for k in ("SSL_CERT_FILE", "SSL_CERT_DIR") if k in os.environ}


def test_page_walk(page_walk, tutorial, run_script, tmp_path):
    """The page's blocks in page order: space, files and packages on the login node, the download (ModelScope,
    its resume, the Hugging Face mirror; the stand-ins copy a tiny Qwen3), check_model.py, the full paths for the
    platform's file picker; then a container with the registered model attached and the tutorial's folder as
    mount point, where check_model.py checks $SCOW_AI_MODEL_PATH."""
    tiny = tmp_path / "tiny-qwen3"
    run_script(str(FIXTURES / "t04_tiny_model.py"), str(tiny))
    walk = page_walk(models={FACTS["models"]["qwen3_4b"]: tiny}, env={"login": dict(CA_BUNDLE)})
    walk.install_conda()
    folder = walk.home / "scow-tutorials" / tutorial.slug
    model = walk.home / "models" / "Qwen3-4B-Instruct-2507"
    walk.mount, walk.model = folder, model
    walk.typed = {"<完整路径>": folder}  # what the reader types: the path `echo` printed
    result = walk.run()
    assert result.run_count == 12
    assert result.output(9).rstrip().endswith("OK: the model folder is complete")
    assert result.output(10).split() == [str(model), str(folder)]
    container = result.output(11)
    assert "/mnt/scow/model" in container and "check_model.py" in container
    assert container.rstrip().endswith("OK: the model folder is complete"), container
    page_walk.same_blocks("en", typed={"zh": {"<完整路径>": "/p"}, "en": {"<full path>": "/p"}})
