"""Tutorial 6 (LLM inference): llm_inference.py against a tiny random Qwen3 chat model built by the test.

The model (tests/fixtures/t06_tiny_qwen3.py) has Qwen3's architecture, a byte-level BPE tokenizer trained on
a few sentences and a ChatML chat template, so the script takes the same code path as with
Qwen3-4B-Instruct-2507; its answers are random tokens. Runs on CPU in the tutorial's environment
(requirements.txt, with the torch that accelerate pulls in instead of the container image's own torch).
"""

import json
import re
from pathlib import Path

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
    assert "--max-new-tokens" in oom.stderr and "Qwen2.5-1.5B-Instruct" in oom.stderr
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
