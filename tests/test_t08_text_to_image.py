"""Tutorial 8 (text-to-image with Stable Diffusion 3 Medium): generate.py and show_settings.py on the CPU.

The real model is gated and large, so the tests assemble a tiny SD3 pipeline with random weights
(tests/fixtures/t08_tiny_sd3.py: the same diffusers folder layout and classes, built without downloads) and
run the published scripts against it: 32x32 images in 2 steps. A tiny random model draws noise, so the tests
check what the script promises (files, sizes, names, metadata, reproducibility, memory options, errors), not
what the picture shows.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

SEARCH_PROBES = {"zh": ["文生图", "Stable Diffusion 3"], "en": ["text-to-image", "Stable Diffusion 3"]}

PROMPT = "a photo of a red cat at sunset"
NEGATIVE = "blurry, low quality"
TINY = ["--steps", "2", "--width", "32", "--height", "32", "--device", "cpu"]


def describe(run_script, *pngs: Path) -> dict:
    """Size, text chunks and a pixel hash of each PNG, read by a helper in the tutorial's environment."""
    result = run_script(str(FIXTURES / "t08_pixels.py"), *map(str, pngs))
    return {Path(k).name: v for k, v in json.loads(result.stdout).items()}


def tiny_model(run_script, tmp_path) -> Path:
    model = tmp_path / "sd3-tiny"
    built = json.loads(run_script(str(FIXTURES / "t08_tiny_sd3.py"), str(model)).stdout)
    assert "model_index.json" in built["files"] and "text_encoder_3/config.json" in built["files"]
    return model


def test_generates_reproducible_images_with_their_settings(run_script, workdir, tmp_path):
    model = tiny_model(run_script, tmp_path)

    first = run_script("generate.py", "--model", str(model), "--prompt", PROMPT, "--negative-prompt", NEGATIVE,
                       "--seed", "42", "--num-images", "2", "--output", "first", *TINY)
    assert "Device: cpu" in first.stdout and "T5 encoder on" in first.stdout
    assert "Done: 2 image(s) in first/" in first.stdout
    pngs = sorted((workdir / "first").glob("*.png"))
    assert [p.name for p in pngs] == [
        re.sub(r"seed\d+", f"seed{seed}", pngs[0].name) for seed in (42, 43)]
    name = pngs[0].name
    assert name.startswith("a-photo-of-a-red-cat_") and name.endswith("_seed42_steps2_cfg7_32x32.png")
    assert all(f"Saved first/{p.name} (32x32, seed" in first.stdout for p in pngs)

    info = describe(run_script, *pngs)
    for png in pngs:
        assert info[png.name]["format"] == "PNG" and info[png.name]["size"] == [32, 32]
        assert max(info[png.name]["stddev"]) > 0  # a picture, not a blank (NaN → black) square
    settings = json.loads(info[pngs[0].name]["text"]["parameters"])
    assert settings == {"prompt": PROMPT, "negative_prompt": NEGATIVE, "seed": 42, "steps": 2, "guidance": 7.0,
                        "width": 32, "height": 32, "dtype": "fp32", "no_t5": False, "model": "sd3-tiny"}
    assert json.loads(info[pngs[1].name]["text"]["parameters"])["seed"] == 43
    assert info[pngs[0].name]["pixels"] != info[pngs[1].name]["pixels"], "different seeds gave the same image"

    # The stored command makes the second image again on its own: same seed, same bytes.
    command = info[pngs[1].name]["text"]["reproduce"]
    assert "--seed 43" in command and f"--negative-prompt '{NEGATIVE}'" in command
    again = run_script("generate.py", "--model", str(model), "--prompt", PROMPT, "--negative-prompt", NEGATIVE,
                       "--seed", "43", "--output", "again", *TINY)
    assert "Done: 1 image(s)" in again.stdout
    assert (workdir / "again" / pngs[1].name).read_bytes() == pngs[1].read_bytes()

    shown = run_script("show_settings.py", *[str(p.relative_to(workdir)) for p in pngs])
    assert "seed             42" in shown.stdout and "seed             43" in shown.stdout
    assert f"negative_prompt  {NEGATIVE}" in shown.stdout
    assert "to make it again: python generate.py --model <model folder> --prompt" in shown.stdout
    as_json = json.loads(run_script("show_settings.py", "--json", str(pngs[0])).stdout)
    assert (as_json["width"], as_json["height"]) == (32, 32) and as_json["parameters"] == settings

    # Without the T5 encoder: it is not loaded (its folder may even be absent) and the name says so.
    shutil.rmtree(model / "text_encoder_3")
    no_t5 = run_script("generate.py", "--model", str(model), "--prompt", PROMPT, "--seed", "42", "--no-t5",
                       "--output", "no-t5", *TINY)
    assert "T5 encoder off" in no_t5.stdout
    [png] = (workdir / "no-t5").glob("*.png")
    assert png.name.endswith("_seed42_steps2_cfg7_32x32_no-t5.png")
    described = describe(run_script, png)[png.name]
    assert described["size"] == [32, 32] and json.loads(described["text"]["parameters"])["no_t5"] is True
    # ... while the full pipeline now stops with the incomplete-download message.
    broken = run_script("generate.py", "--model", str(model), "--prompt", PROMPT, *TINY, check=False)
    assert broken.returncode == 2 and "incomplete" in broken.stderr and "text_encoder_3" in broken.stderr

    # A full GPU: the advice and exit code 3, not a traceback.
    oom = run_script(str(FIXTURES / "t08_out_of_memory.py"), "--model", str(model), "--prompt", PROMPT,
                     "--no-t5", *TINY, check=False)
    assert oom.returncode == 3, oom.output
    assert "ran out of memory" in oom.stderr and "--offload" in oom.stderr and "Traceback" not in oom.stderr


def test_clear_errors_for_wrong_model_folders_and_settings(run_script, workdir, tmp_path):
    missing = run_script("generate.py", "--model", "models/sd3-medium", "--prompt", PROMPT, check=False)
    assert missing.returncode == 2
    assert "models/sd3-medium does not exist" in missing.stderr and "--model" in missing.stderr

    single_file = tmp_path / "sd3-medium"
    single_file.mkdir()
    (single_file / "sd3_medium_incl_clips.safetensors").write_bytes(b"")
    wrong = run_script("generate.py", "--model", str(single_file), "--prompt", PROMPT, check=False)
    assert wrong.returncode == 2
    assert "not a diffusers model folder" in wrong.stderr and "model_index.json" in wrong.stderr
    assert "single-file checkpoint" in wrong.stderr and "stable-diffusion-3-medium-diffusers" in wrong.stderr

    other = tmp_path / "sdxl"
    other.mkdir()
    (other / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    assert "not StableDiffusion3Pipeline" in run_script(
        "generate.py", "--model", str(other), "--prompt", PROMPT, check=False).stderr

    odd = run_script("generate.py", "--model", str(other), "--prompt", PROMPT, "--width", "1000", check=False)
    assert odd.returncode == 2 and "multiple of 16" in odd.stderr

    not_ours = tmp_path / "plain.png"
    not_ours.write_bytes(bytes.fromhex("89504e470d0a1a0a"))
    bad = run_script("show_settings.py", str(not_ours), "nowhere.png", check=False)
    assert bad.returncode == 2 and "nowhere.png does not exist" in bad.stderr and "plain.png" in bad.stderr


def test_requirements_cover_the_imports(tutorial):
    names = {line.split("==")[0].strip().lower()
             for line in (tutorial.folder / "requirements.txt").read_text().splitlines() if "==" in line}
    # accelerate: enable_model_cpu_offload(); sentencepiece/protobuf: the T5 tokenizer's slow files.
    assert {"torch", "diffusers", "transformers", "accelerate", "pillow", "sentencepiece"} <= names
