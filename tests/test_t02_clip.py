"""Tutorial 2 (CLIP): the example image's drawing script and classify.py on a tiny random CLIP.

The model is a randomly initialised CLIP with the layout of a downloaded checkpoint, saved by
tests/fixtures/t02_tiny_clip.py; its probabilities mean nothing, but they must be the softmax that
CLIP's own embeddings give, one per label, summing to 1. Nothing is downloaded.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
LABELS = ["a diagram", "a dog", "a cat"]
ROW = re.compile(r"^  (\d\.\d{4})  (.+)$", re.M)

SEARCH_PROBES = {"zh": ["CLIP", "图文", "措辞"], "en": ["CLIP", "zero-shot"]}


def test_example_image_is_what_the_script_draws(tutorial, run_script, tmp_path):
    result = run_script("draw_example.py", str(tmp_path / "drawn.png"))
    assert "Saved" in result.stdout and "320x320" in result.stdout
    committed = tutorial.folder / "cat.png"
    assert (tmp_path / "drawn.png").read_bytes() == committed.read_bytes(), (
        "cat.png differs from what draw_example.py draws: run it and commit the result")
    assert committed.stat().st_size <= 50_000


def test_pages_describe_the_image(tutorial):
    for page in ("index.md", "index.en.md"):
        text = (tutorial.folder / page).read_text(encoding="utf-8")
        alts = re.findall(r"!\[([^\]]*)\]\(cat\.png\)", text)
        assert alts and all(len(alt) >= 15 and alt.lower() != "alt text" for alt in alts), page


def test_classifies_with_a_tiny_clip(run_script, tmp_path, workdir):
    model = tmp_path / "clip"
    built = run_script(str(FIXTURES / "t02_tiny_clip.py"), str(model), "cat.png", *LABELS)
    info = json.loads(built.stdout.strip().splitlines()[-1])
    reference = dict(zip(LABELS, info["reference"]))

    result = run_script("classify.py", "cat.png", "--model", str(model), "--labels", *LABELS)
    assert "Traceback" not in result.output
    assert result.stdout.startswith("Device: cpu\n")
    assert "Image: cat.png (320x320)" in result.stdout
    rows = [(float(p), label) for p, label in ROW.findall(result.stdout)]
    assert sorted(label for _, label in rows) == sorted(LABELS)
    assert [p for p, _ in rows] == sorted((p for p, _ in rows), reverse=True), "not highest first"
    assert abs(sum(p for p, _ in rows) - 1) < 5e-4
    for p, label in rows:
        assert abs(p - reference[label]) < 2e-4, (label, p, reference[label])
    assert f"Best match: {max(reference, key=reference.get)}" in result.stdout

    # --json keeps the labels in the order given; the model folder may come from CLIP_MODEL_DIR. This run
    # reads the layout of the openai/clip-vit-base-patch32 repository (pytorch_model.bin, old preprocessor file).
    order = ["a cat", "a diagram", "a dog"]
    as_json = run_script("classify.py", "cat.png", "--labels", *order, "--json",
                         env={"CLIP_MODEL_DIR": info["legacy"]})
    data = json.loads(as_json.stdout)
    assert data["labels"] == order
    assert abs(sum(data["probabilities"]) - 1) < 1e-5
    assert all(0 <= p <= 1 for p in data["probabilities"])
    for label, p in zip(order, data["probabilities"]):
        assert abs(p - reference[label]) < 1e-5

    no_gpu = run_script("classify.py", "cat.png", "--model", str(model), "--device", "cuda", check=False)
    assert no_gpu.returncode == 2 and "Traceback" not in no_gpu.output
    assert "nvidia-smi" in no_gpu.stderr


def bad(run_script, *args):
    result = run_script("classify.py", *args, check=False)
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    return result.stderr


def test_clear_errors(run_script, workdir, tmp_path):
    model = tmp_path / "model"
    model.mkdir()

    assert "image file not found: missing.png" in bad(run_script, "missing.png", "--model", str(model))

    (workdir / "notes.png").write_text("this is text, not a picture\n")
    assert "notes.png is not an image" in bad(run_script, "notes.png", "--model", str(model))

    message = bad(run_script, "cat.png", "--model", str(model), "--labels", "a cat")
    assert "at least two" in message and "got 1" in message

    message = bad(run_script, "cat.png", "--model", str(tmp_path / "nowhere"))
    assert "model folder not found" in message and "nowhere" in message and "login/data node" in message

    assert "no model folder given" in bad(run_script, "cat.png")

    message = bad(run_script, "cat.png", "--model", str(model))
    assert "holds no model (no config.json)" in message and str(model) in message

    (model / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert "holds a 'bert' model, not CLIP" in bad(run_script, "cat.png", "--model", str(model))

    (model / "config.json").write_text(json.dumps({"model_type": "clip"}))
    message = bad(run_script, "cat.png", "--model", str(model))
    assert "no weights" in message and "download command again" in message


def test_requirements_pin_transformers_not_the_clip_repository(tutorial):
    lines = (tutorial.folder / "requirements.txt").read_text(encoding="utf-8").split()
    names = {line.split("==")[0].lower() for line in lines}
    assert {"torch", "torchvision", "transformers", "pillow"} <= names
    assert not any("git+" in line or line.lower().startswith("clip") for line in lines)
