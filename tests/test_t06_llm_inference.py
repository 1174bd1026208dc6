"""Tutorial 6 (LLM inference): llm_inference.py against a tiny random Qwen3 chat model built by the test.

The model (tests/fixtures/t06_tiny_qwen3.py) has Qwen3's architecture, a byte-level BPE tokenizer trained on
a few sentences and a ChatML chat template, so the script takes the same code path as with
Qwen3-4B-Instruct-2507; its answers are random tokens. Runs on CPU in the tutorial's environment
(requirements.txt, with the torch that accelerate pulls in instead of the container image's own torch).
"""

import json
import re
import shutil
from pathlib import Path

import pytest
from tutorial_fixtures import record_or_compare

FIXTURES = Path(__file__).parent / "fixtures"

SEARCH_PROBES = {"zh": ["大模型推理", "Qwen3-4B-Instruct-2507 流式输出"],
                 "en": ["LLM inference", "Qwen3 streaming chat"]}

STATS = re.compile(r"\[prompt (\d+) tokens, answer (\d+) tokens")


def test_answers_once_and_chats_with_history(tutorial, workdir, run_script, tmp_path):
    mount = tmp_path / "mount"  # like the AI platform's mount point, with the model one level down
    built = run_script(str(FIXTURES / "t06_tiny_qwen3.py"), str(mount / "Qwen3-tiny"))
    assert json.loads(built.stdout.strip().splitlines()[-1])["parameters"] > 1000
    model = mount / "Qwen3-tiny"

    once = run_script("llm_inference.py", "--model", str(model), "--prompt", "Hello!",
                      "--max-new-tokens", "8", "--seed", "1")
    assert "Traceback" not in once.output
    assert "as float32 on CPU" in once.stderr
    stats = STATS.findall(once.stderr)
    assert len(stats) == 1
    assert int(stats[0][1]) > 0
    assert once.stdout.strip(), "the streamed answer should be printed on stdout"

    chat = run_script("llm_inference.py", "--max-new-tokens", "6", "--seed", "2",
                      env={"SCOW_AI_MODEL_PATH": str(mount)},
                      input="Hello!\nWhat is a GPU?\n/reset\nHello!\n")
    assert "Traceback" not in chat.output
    assert f"Using the model in {model}" in chat.stderr
    assert chat.stdout.count("Assistant> ") == 3
    assert "(conversation cleared)" in chat.stdout
    assert chat.stdout.rstrip().endswith("Bye.")
    (p1, a1), (p2, a2), (p3, a3) = [(int(p), int(a)) for p, a in STATS.findall(chat.stderr)]
    assert a1 > 0 and a2 > 0 and a3 > 0
    # The second prompt holds the first question, the first answer and the second question;
    # after /reset the same first question is again as long as the first time.
    assert p2 > p1 + a1
    assert p3 == p1

    oom = run_script(str(FIXTURES / "t06_oom.py"), str(workdir / "llm_inference.py"), "--model", str(model),
                     "--prompt", "Hello!", check=False)
    assert oom.returncode == 3, oom.output
    assert "out of memory" in oom.stderr
    # Only remedies that free memory: a shorter conversation, other processes off the GPU, a smaller model
    # (--max-new-tokens barely changes the memory of a 4B model: about 144 KiB per token).
    assert "/reset" in oom.stderr and "nvidia-smi" in oom.stderr and "Qwen2.5-1.5B-Instruct" in oom.stderr
    assert "--max-new-tokens" not in oom.stderr
    assert "Traceback" not in oom.output


def test_no_model_is_a_clear_error(run_script, tmp_path):
    unset = run_script("llm_inference.py", "--prompt", "Hello!", check=False)
    assert unset.returncode == 2
    assert "SCOW_AI_MODEL_PATH is not set" in unset.stderr and "--model" in unset.stderr
    assert "Traceback" not in unset.output

    empty = tmp_path / "empty-model"
    empty.mkdir()
    (empty / "README.md").write_text("not a model\n")
    no_files = run_script("llm_inference.py", "--prompt", "Hello!", env={"SCOW_AI_MODEL_PATH": str(empty)},
                          check=False)
    assert no_files.returncode == 2
    assert str(empty) in no_files.stderr and "config.json" in no_files.stderr
    assert "README.md" in no_files.stderr
    assert "Traceback" not in no_files.output

    two = run_script("llm_inference.py", "--prompt", "Hello!",
                     env={"SCOW_AI_MODEL_PATH": f"{empty}:{tmp_path}"}, check=False)
    assert two.returncode == 2 and "several models" in two.stderr


def test_requirements_pin_what_goes_on_top_of_the_image(tutorial):
    pins = dict(line.split("==") for line in (tutorial.folder / "requirements.txt").read_text().split())
    assert set(pins) == {"transformers", "accelerate"}
    source = (tutorial.folder / "llm_inference.py").read_text()
    assert 'device_map": "auto"' in source
    assert ".to(device)" not in source and "model.to(" not in source


def build_tiny(run_script, folder: Path) -> Path:
    run_script(str(FIXTURES / "t06_tiny_qwen3.py"), str(folder))
    return folder


def build_tiny_sharded(run_script, folder: Path) -> Path:
    run_script(str(FIXTURES / "t06_tiny_qwen3.py"), str(folder), "40KB")
    return folder


@pytest.mark.parametrize("capability, dtype", [("7.0", "float16"), ("7.5", "float16"), ("8.0", "bfloat16"),
                                               ("9.0", "bfloat16")])
def test_dtype_follows_the_compute_capability(run_script, workdir, tmp_path, capability, dtype):
    """bfloat16 only where the GPU runs it natively (capability 8.0 and newer), although the fake, like the
    real torch.cuda.is_bf16_supported(), says True on a V100 (7.0) or T4 (7.5) too."""
    model = build_tiny(run_script, tmp_path / "Qwen3-tiny")
    run = run_script(str(FIXTURES / "t06_fake_cuda.py"), capability, str(workdir / "llm_inference.py"),
                     "--model", str(model), "--prompt", "Hello!", "--max-new-tokens", "2", "--greedy")
    loading = next(line for line in run.stderr.splitlines() if line.startswith("Loading"))
    assert f" as {dtype} on " in loading, loading
    assert f"compute capability {capability}" in loading, loading
    assert ("emulated" in loading) == (dtype == "float16"), loading
    assert "Model ready" in run.stderr and STATS.search(run.stderr)
    assert "did not fit in the GPU memory" not in run.stderr


def test_layers_offloaded_to_the_cpu_are_reported(run_script, workdir, tmp_path):
    """device_map="auto" puts what does not fit on the GPU onto the CPU without a word; the script says so
    (the fake CUDA layer hands the script a model whose hf_device_map has half the layers on the CPU)."""
    model = build_tiny(run_script, tmp_path / "Qwen3-tiny")
    run = run_script(str(FIXTURES / "t06_fake_cuda.py"), "8.0:offload", str(workdir / "llm_inference.py"),
                     "--model", str(model), "--prompt", "Hello!", "--max-new-tokens", "2", "--greedy")
    warning = next(line for line in run.stderr.splitlines() if line.startswith("Warning:"))
    assert "3 of the model's 6 parts did not fit in the GPU memory and were put on the CPU" in warning, warning
    assert "model.layers.1" in warning and "nvidia-smi" in warning
    assert STATS.search(run.stderr), "the script still answers"


def test_damaged_weights_are_named(run_script, tmp_path):
    """A shard cut off by an interrupted download is named before anything loads; a shard that safetensors
    itself refuses (SafetensorError, not an OSError) is a clear error too, not a traceback."""
    built = build_tiny_sharded(run_script, tmp_path / "sharded")
    shards = sorted(built.glob("model-*.safetensors"))
    assert len(shards) > 1, "the fixture should write several shards"

    cut = tmp_path / "cut"
    shutil.copytree(built, cut)
    shard = cut / shards[1].name
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    run = run_script("llm_inference.py", "--model", str(cut), "--prompt", "Hello!", check=False)
    assert run.returncode == 2, run.output
    assert f"{shard} is incomplete" in run.stderr and "download command again" in run.stderr
    assert "Loading" not in run.stderr and "Traceback" not in run.output

    padded = tmp_path / "padded"
    shutil.copytree(built, padded)
    with (padded / shards[1].name).open("ab") as file:
        file.write(b"\0" * 16)
    run = run_script("llm_inference.py", "--model", str(padded), "--prompt", "Hello!", check=False)
    assert run.returncode == 2, run.output
    assert f"could not load the model from {padded}" in run.stderr and "check_model.py" in run.stderr
    assert "Traceback" not in run.output


def test_model_without_chat_template_stops_before_the_weights_load(run_script, tmp_path):
    """A base model (no chat template) is refused after the tokenizer, before the weights load."""
    model = build_tiny(run_script, tmp_path / "Qwen3-base")
    (model / "chat_template.jinja").unlink()
    config = json.loads((model / "tokenizer_config.json").read_text())
    assert "chat_template" not in config
    run = run_script("llm_inference.py", "--model", str(model), "--prompt", "Hello!", check=False)
    assert run.returncode == 2, run.output
    assert "has no chat template" in run.stderr and "instruction-tuned" in run.stderr
    assert "Loading" not in run.stderr and "Model ready" not in run.stderr
    assert "Traceback" not in run.output


def test_page_claims_about_the_script_hold(tutorial):
    """A line count the page gives for the script is true; the container sections keep `which python` as
    "the image's Python" without the HOME-conda story (the container does not see HOME's conda)."""
    lines = len((tutorial.folder / "llm_inference.py").read_text().splitlines())
    for lang in ("zh", "en"):
        text = tutorial.page_text(lang)
        for claim in re.findall(r"不到 (\d+) 行|(?:fewer than|under|less than) (\d+) lines", text):
            assert lines < int(next(n for n in claim if n)), f"{lang}: the script has {lines} lines"
        assert "which python" in text and "conda deactivate" not in text


def test_bad_input_stops_before_the_model_loads(run_script, tmp_path):
    model = build_tiny(run_script, tmp_path / "Qwen3-tiny")
    for value in ("0", "-5"):
        bad = run_script("llm_inference.py", "--model", str(model), "--prompt", "Hi", "--max-new-tokens", value,
                         check=False)
        assert bad.returncode == 2, bad.output
        assert f"--max-new-tokens {value}" in bad.stderr and "positive number" in bad.stderr
        assert "Loading" not in bad.stderr and "Traceback" not in bad.output
    for prompt in ("", "   "):
        empty = run_script("llm_inference.py", "--model", str(model), "--prompt", prompt, check=False)
        assert empty.returncode == 2, empty.output
        assert "--prompt is empty" in empty.stderr and "Loading" not in empty.stderr
    # Bytes that are not UTF-8 (GBK's 你好) in argv and on stdin.
    argv = run_script("llm_inference.py", "--model", str(model), "--prompt", b"\xc4\xe3\xba\xc3".decode(
        "utf-8", "surrogateescape"), check=False)
    assert argv.returncode == 2, argv.output
    assert "--prompt is not valid UTF-8" in argv.stderr and "iconv" in argv.stderr
    piped = run_script("bash", "-c", f"printf 'Hello\\n\\xc4\\xe3\\xba\\xc3\\n' | python llm_inference.py "
                       f"--model {model}", check=False)
    assert piped.returncode == 2, piped.output
    assert "stdin is not valid UTF-8" in piped.stderr and "iconv" in piped.stderr
    assert "Loading" not in piped.stderr and "Traceback" not in piped.output


def test_missing_tokenizer_is_named_before_loading(run_script, tmp_path):
    """transformers 5 builds an empty tokenizer when its files are missing: the script must not get that far."""
    model = build_tiny(run_script, tmp_path / "mount" / "Qwen3-tiny")
    (model / "tokenizer.json").unlink()
    bad = run_script("llm_inference.py", "--prompt", "Hello!", env={"SCOW_AI_MODEL_PATH": str(tmp_path / "mount")},
                     check=False)
    assert bad.returncode == 2, bad.output
    assert f"{model} has the model's weights but no tokenizer files" in bad.stderr
    assert "check_model.py" in bad.stderr and "download command again" in bad.stderr
    assert "Model ready" not in bad.stderr and "Traceback" not in bad.output


SPEED = re.compile(r"\d+\.\d tokens/s")


def test_recorded_chat_output(run_script, workdir, tutorial):
    """The output the page shows: the piped two-turn chat with the tiny model on CPU, stdout and stderr in the
    order the terminal shows them; only the loading progress bar is dropped, and speeds may differ."""
    build_tiny(run_script, workdir / "mount" / "Qwen3-tiny")
    run = run_script("bash", "-c", "printf 'Hello!\\nWhat is a GPU?\\n' | SCOW_AI_MODEL_PATH=mount "
                     "python llm_inference.py --max-new-tokens 6 --seed 2 2>&1")
    lines = [line.rpartition("\r")[2] for line in run.stdout.split("\n")]
    shown = "\n".join(line for line in lines if not line.startswith("Loading weights:"))
    assert "Traceback" not in shown and "Model ready" in shown and shown.rstrip().endswith("Bye.")
    record_or_compare(tutorial.folder / "example_chat_cpu.txt", shown,
                      same=lambda recorded, now: SPEED.sub("N tokens/s", recorded) == SPEED.sub("N tokens/s", now))
    for lang in ("zh", "en"):
        assert f'--8<-- "tutorials/{tutorial.slug}/example_chat_cpu.txt"' in tutorial.page_text(lang)


CLOSURE = """
import json, re, sys
from importlib import metadata
from packaging.requirements import Requirement
norm = lambda n: re.sub(r"[-_.]+", "-", n).lower()
seen, todo = {}, ["transformers", "accelerate"]
while todo:
    name = todo.pop()
    if norm(name) in seen or norm(name) == "torch":
        continue
    dist = metadata.distribution(name)
    seen[norm(name)] = dist.version
    for line in dist.requires or []:
        req = Requirement(line)
        if not req.marker or req.marker.evaluate({"extra": ""}):
            todo.append(req.name)
print(json.dumps(seen))
"""


def test_wheels_list_is_what_requirements_need_besides_torch(run_script, tutorial, tmp_path):
    """wheels.txt (downloaded on the login node, installed offline in the container) holds exactly the
    packages requirements.txt brings in, at the environment's versions, and not torch (the image has it)."""
    script = tmp_path / "closure.py"
    script.write_text(CLOSURE)
    needed = json.loads(run_script(str(script)).stdout)
    listed = dict(line.split("==") for line in (tutorial.folder / "wheels.txt").read_text().splitlines()
                  if line and not line.startswith("#"))
    assert listed == needed
    assert "torch" not in listed and not [n for n in listed if n.startswith("nvidia")]
    pins = dict(line.split("==") for line in (tutorial.folder / "requirements.txt").read_text().split())
    assert all(listed[name] == version for name, version in pins.items())
    count = len(listed)
    for lang in ("zh", "en"):
        assert f"`{count}`" in tutorial.page_text(lang), f"the page should say ls wheels | wc -l prints {count}"


@pytest.mark.gpu
def test_on_cuda_the_dtype_matches_the_compute_capability(run_script, tmp_path):
    """On a real GPU: the tiny model loads on CUDA, in bfloat16 from compute capability 8.0 on, else float16."""
    model = build_tiny(run_script, tmp_path / "Qwen3-tiny")
    probe = run_script("python", "-c", "import torch; print(*torch.cuda.get_device_capability(0))", gpu=True)
    major, minor = map(int, probe.stdout.split())
    run = run_script("llm_inference.py", "--model", str(model), "--prompt", "Hello!", "--max-new-tokens", "4",
                     "--greedy", gpu=True)
    loading = next(line for line in run.stderr.splitlines() if line.startswith("Loading"))
    expected = "bfloat16" if (major, minor) >= (8, 0) else "float16"
    assert f" as {expected} on " in loading and f"compute capability {major}.{minor}" in loading, loading
    assert re.search(r"Model ready: .* on cuda", run.stderr), run.stderr
    assert STATS.search(run.stderr) and "Traceback" not in run.output


def test_page_walk(page_walk, tutorial, run_script, tmp_path):
    """The page's blocks in page order: files downloaded on the login node; a container that sees only the
    mount point, WORK_DIR and the attached model (one level down, as a model version is mounted); the checks,
    PYTHONPATH, one question and a piped chat there. The two pip blocks (download from PyPI on the login node,
    offline install of those wheels) cannot run here: the walk's container image already has requirements.txt,
    so the version check after them passes without pylibs; tests above check wheels.txt itself."""
    attached = tmp_path / "attached"
    model = build_tiny(run_script, attached / "Qwen3-tiny")
    walk = page_walk(model=attached, stdin={6: "Hello!\nWhat is a GPU?\n/exit\n"})
    folder = walk.home / "scow-tutorials" / tutorial.slug
    walk.mount = folder
    walk.typed = {"<完整路径>": folder}
    result = walk.run()
    assert result.run_count == 6
    assert result.output(0).strip().endswith(str(folder))
    check = result.output(2)
    assert "llm_inference.py" in check and "wheels.txt" in check and "/mnt/scow/model" in check
    assert f"{walk.image_env() / 'bin' / 'python'}\n" in check
    versions = {line.split("==")[0]: line.split("==")[1]
                for line in (tutorial.folder / "requirements.txt").read_text().split()}
    assert f"{versions['transformers']} {versions['accelerate']}" in result.output(4)
    once = result.output(5)
    assert f"Using the model in /mnt/scow/model/{model.name}" in once and "Model ready" in once
    chat = result.output(6)
    assert chat.count("Assistant> ") == 2 and "Bye." in chat
    assert '"num_hidden_layers"' in result.output(7)
    # The same blocks in English; only the path placeholder and the two example prompts are translated.
    page_walk.same_blocks("en", typed={
        "zh": {"<完整路径>": "/p", "用两句话解释什么是 GPU。": "Q", "你是一名乐于助人的助教，回答简洁。": "S"},
        "en": {"<full path>": "/p", "Explain what a GPU is in two sentences.": "Q",
               "You are a helpful teaching assistant. Keep answers short.": "S"}})
