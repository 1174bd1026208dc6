"""Tutorial 8 (text-to-image with Stable Diffusion 3 Medium): generate.py and show_settings.py on the CPU.

The real model is gated and large, so the tests assemble a tiny SD3 pipeline with random weights
(tests/fixtures/t08_tiny_sd3.py: the same diffusers folder layout and classes, built without downloads) and
run the published scripts against it: 32x32 images in 2 steps. A tiny random model draws noise, so the tests
check what the script promises (files, sizes, names, metadata, reproducibility, memory options, errors), not
what the picture shows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tutorial_fixtures import facts, isolated_env, record_or_compare

FIXTURES = Path(__file__).parent / "fixtures"

SEARCH_PROBES = {"zh": ["文生图", "Stable Diffusion 3"], "en": ["text-to-image", "Stable Diffusion 3"]}

PROMPT = "a photo of a red cat at sunset"
NEGATIVE = "blurry, low quality"
FACTS = facts()
SD3 = FACTS["models"]["sd3"]
TINY = ["--steps", "2", "--width", "32", "--height", "32", "--device", "cpu"]


def describe(run_script, *pngs: Path) -> dict:
    """Size, text chunks and a pixel hash of each PNG, read by a helper in the tutorial's environment."""
    result = run_script(str(FIXTURES / "t08_pixels.py"), *map(str, pngs))
    return {Path(k).name: v for k, v in json.loads(result.stdout).items()}


@pytest.fixture(scope="module")
def built_sd3(tutorial, tmp_path_factory) -> Path:
    """The tiny SD3 pipeline, built once for the module (a few seconds of imports saved per test); tests that
    change it work on their own copy (tiny_model)."""
    out = tmp_path_factory.mktemp("t08-model")
    home = out / "home"
    home.mkdir()
    result = subprocess.run([str(tutorial.python), str(FIXTURES / "t08_tiny_sd3.py"), str(out / "sd3-tiny")],
                            check=True, capture_output=True, text=True, timeout=600,
                            env=isolated_env(home, tutorial.env / "bin", None))
    built = json.loads(result.stdout)
    assert "model_index.json" in built["files"] and "text_encoder_3/config.json" in built["files"]
    return out / "sd3-tiny"


def tiny_model(built_sd3: Path, tmp_path) -> Path:
    model = tmp_path / "sd3-tiny"
    shutil.copytree(built_sd3, model)
    return model


def test_generates_reproducible_images_with_their_settings(run_script, workdir, tmp_path, built_sd3):
    model = tiny_model(built_sd3, tmp_path)

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


@pytest.mark.parametrize("capability, dtype", [("7.0", "fp16"), ("7.5", "fp16"), ("8.0", "bf16"), ("9.0", "bf16")])
def test_dtype_follows_the_compute_capability(run_script, workdir, tmp_path, built_sd3, capability, dtype):
    """bf16 only where the GPU runs it natively (8.0+), although the fake, like the real
    torch.cuda.is_bf16_supported(), says True on a V100 (7.0) and a T4 (7.5) too."""
    model = tiny_model(built_sd3, tmp_path)
    run = run_script(str(FIXTURES / "t08_fake_cuda.py"), capability, "--model", str(model), "--prompt", PROMPT,
                     "--seed", "1", "--steps", "1", "--width", "32", "--height", "32")
    device = next(line for line in run.stdout.splitlines() if line.startswith("Device:"))
    assert device.startswith("Device: cuda (") and f"dtype {dtype} (compute capability {capability}" in device
    assert ("emulated" in device) == (dtype == "fp16"), device
    [png] = (workdir / "outputs").glob("*.png")
    assert json.loads(describe(run_script, png)[png.name]["text"]["parameters"])["dtype"] == dtype
    if dtype == "fp16":
        forced = run_script(str(FIXTURES / "t08_fake_cuda.py"), capability, "--model", str(model), "--prompt",
                            PROMPT, "--dtype", "bf16", "--steps", "1", "--width", "32", "--height", "32",
                            check=False)
        assert forced.returncode == 2 and f"compute capability {capability}" in forced.stderr
        assert "--dtype fp16" in forced.stderr and "Traceback" not in forced.output


def test_bad_prompts_and_output_stop_before_loading(run_script, workdir, tmp_path, built_sd3):
    model = tiny_model(built_sd3, tmp_path)
    for prompt in ("", "  "):
        empty = run_script("generate.py", "--model", str(model), "--prompt", prompt, *TINY, check=False)
        assert empty.returncode == 2 and "--prompt is empty" in empty.stderr, empty.output
    gbk = b"\xba\xec\xc9\xab\xb5\xc4\xc3\xa8".decode("utf-8", "surrogateescape")  # 红色的猫 in GBK
    for option in ("--prompt", "--negative-prompt"):
        args = ["--prompt", gbk] if option == "--prompt" else ["--prompt", PROMPT, "--negative-prompt", gbk]
        bad = run_script("generate.py", "--model", str(model), *args, *TINY, check=False)
        assert bad.returncode == 2, bad.output
        assert f"{option} is not valid UTF-8" in bad.stderr and "iconv" in bad.stderr
        assert "Model:" not in bad.stdout and "Traceback" not in bad.output
    (workdir / "picture.png").write_bytes(b"not a folder")
    for output in ("picture.png", "picture.png/more"):
        clash = run_script("generate.py", "--model", str(model), "--prompt", PROMPT, "--output", output, *TINY,
                           check=False)
        assert clash.returncode == 2, clash.output
        assert "picture.png is a file" in clash.stderr and "--output outputs" in clash.stderr
        assert "Model:" not in clash.stdout and "Traceback" not in clash.output


def test_sizes_beyond_the_position_embedding_stop_before_loading(run_script, built_sd3):
    """--width/--height above pos_embed_max_size x patch_size x the VAE's factor (96 x 1 x 1 for the tiny model,
    read from its configs) stop before the model loads; diffusers used to fail only at the first step."""
    config = json.loads((built_sd3 / "transformer" / "config.json").read_text())
    assert (config["pos_embed_max_size"], config["patch_size"]) == (96, 1)
    for option, other in (("--width", "--height"), ("--height", "--width")):
        big = run_script("generate.py", "--model", str(built_sd3), "--prompt", PROMPT, *TINY, option, "112",
                         other, "32", check=False)
        assert big.returncode == 2, big.output
        assert f"{option} 112: this model takes at most 96 pixels per side" in big.stderr, big.stderr
        assert "pos_embed_max_size 96 x patch_size 1" in big.stderr
        assert "Model:" not in big.stdout and "Traceback" not in big.output
    edge = run_script("generate.py", "--model", str(built_sd3), "--prompt", PROMPT, *TINY, "--width", "96",
                      "--output", "edge")
    assert "Done: 1 image(s)" in edge.stdout and "_32x32" not in edge.stdout and "96x32" in edge.stdout


@pytest.mark.parametrize("part", ["tokenizer", "tokenizer_3"])
def test_missing_tokenizer_files_are_named(run_script, tmp_path, built_sd3, part):
    """transformers 5 builds an empty tokenizer when its files are missing, and the image comes from
    meaningless ids: the script must stop first and name the subfolder."""
    model = tiny_model(built_sd3, tmp_path)
    (model / part / "tokenizer.json").unlink()
    bad = run_script("generate.py", "--model", str(model), "--prompt", PROMPT, *TINY, check=False)
    assert bad.returncode == 2, bad.output
    assert f"no tokenizer files in {part}/" in bad.stderr and "download command again" in bad.stderr
    assert "Saved" not in bad.stdout and "Traceback" not in bad.output
    if part == "tokenizer_3":  # without T5 its tokenizer is not needed
        assert "Done: 1 image(s)" in run_script("generate.py", "--model", str(model), "--prompt", PROMPT,
                                                "--no-t5", *TINY).stdout


T5_MEMORY = """
import json, torch
from transformers import T5Config, T5EncoderModel
# google/t5-v1_1-xxl, the encoder SD3 Medium ships in text_encoder_3/ (its config.json has these sizes)
config = T5Config(vocab_size=32128, d_model=4096, d_kv=64, d_ff=10240, num_layers=24, num_heads=64,
                  feed_forward_proj="gated-gelu", is_encoder_decoder=False)
with torch.device("meta"):
    model = T5EncoderModel(config)
keep = T5EncoderModel._keep_in_fp32_modules
fp32 = sum(p.numel() for n, p in model.named_parameters() if any(k in n.split(".") for k in keep))
total = sum(p.numel() for p in model.parameters())
print(json.dumps({"keep": keep, "total": total, "fp32": fp32, "bytes": (total - fp32) * 2 + fp32 * 4}))
"""


def test_t5_memory_figure_on_the_page(run_script, tutorial, tmp_path):
    """The pinned transformers keeps T5's `wo` layers in fp32 (_keep_in_fp32_modules) when the rest loads in
    fp16/bf16: T5-XXL's encoder then needs about 11.5 GB, not 2 bytes x 4.76 billion = 9.5 GB."""
    script = tmp_path / "t5_memory.py"
    script.write_text(T5_MEMORY)
    got = json.loads(run_script(str(script)).stdout)
    assert got["keep"] == ["wo"]
    assert round(got["total"] / 1e9, 2) == 4.76 and round(got["fp32"] / 1e9, 2) == 1.01
    assert round(got["bytes"] / 1e9, 1) == 11.5
    assert "11.5 GB" in tutorial.page_text("zh") and "11.5 GB" in tutorial.page_text("en")
    assert "9.4 GB" not in tutorial.page_text("zh") and "9.4 GB" not in tutorial.page_text("en")


TIMES = re.compile(r"\d+\.\d s\b")


def test_recorded_outputs_on_the_page(run_script, workdir, tutorial):
    """The outputs the page shows: generate.py and show_settings.py on the tiny pipeline (CPU, 32x32, 2 steps),
    recorded as printed; only the seconds may differ."""
    run_script(str(FIXTURES / "t08_tiny_sd3.py"), str(workdir / "sd3-tiny"))
    made = run_script("generate.py", "--model", "sd3-tiny", "--prompt", PROMPT, "--negative-prompt", NEGATIVE,
                      "--seed", "42", "--num-images", "2", *TINY)
    record_or_compare(tutorial.folder / "example_generate_cpu.txt", made.stdout,
                      same=lambda recorded, now: TIMES.sub("N s", recorded) == TIMES.sub("N s", now))
    first = sorted((workdir / "outputs").glob("*seed42*.png"))[0]
    shown = run_script("show_settings.py", str(first.relative_to(workdir)))
    record_or_compare(tutorial.folder / "example_show_settings.txt", shown.stdout)
    for lang in ("zh", "en"):
        for name in ("example_generate_cpu.txt", "example_show_settings.txt"):
            assert f'--8<-- "tutorials/{tutorial.slug}/{name}"' in tutorial.page_text(lang)
        assert "Device: cuda" not in "".join(re.findall(r"```text\n(.*?)```", tutorial.page_text(lang), re.S))


@pytest.mark.gpu
def test_on_cuda_the_dtype_matches_the_compute_capability(run_script, workdir, tmp_path, built_sd3):
    """On a real GPU: the tiny pipeline runs on CUDA, in bf16 from compute capability 8.0 on, else fp16."""
    model = tiny_model(built_sd3, tmp_path)
    probe = run_script("python", "-c", "import torch; print(*torch.cuda.get_device_capability(0))", gpu=True)
    major, minor = map(int, probe.stdout.split())
    run = run_script("generate.py", "--model", str(model), "--prompt", PROMPT, "--seed", "1", "--steps", "2",
                     "--width", "32", "--height", "32", gpu=True)
    expected = "bf16" if (major, minor) >= (8, 0) else "fp16"
    assert "Device: cuda (" in run.stdout and f"dtype {expected} (compute capability {major}.{minor}" in run.stdout
    [png] = (workdir / "outputs").glob("*.png")
    info = describe(run_script, png)[png.name]
    assert info["size"] == [32, 32] and max(info["stddev"]) > 0


CA_BUNDLE = {k: os.environ[k] for k in ("SSL_CERT_FILE", "SSL_CERT_DIR") if k in os.environ}


def test_page_walk(page_walk, run_script, tmp_path, built_sd3):
    """The page's blocks in page order on the login node: files, packages in Tutorial 0's conda environment, the
    download from ModelScope and through the Hugging Face mirror (token typed at `read -rs`; stand-ins that hand
    out the tiny pipeline), the check; then the compute node's shell. Generating needs a GPU torch can use."""
    tiny = tiny_model(built_sd3, tmp_path)
    walk = page_walk(models={SD3: tiny},
                     stdin={4: "hf_not_a_real_token\n"}, env={"login": dict(CA_BUNDLE)})
    walk.install_conda()
    result = walk.run()
    assert result.run_count == 7
    downloads = (walk.record / "downloads.log").read_text()
    assert f"hf download {SD3} --local-dir" in downloads
    assert f"modelscope download {SD3} --local-dir" in downloads
    listed = result.output(7).split()
    assert "model_index.json" in listed and "tokenizer_3" in listed and "tokenizer.json" in listed
    compute = result.output(8)
    assert "NVIDIA" in compute and "model_index.json" in compute
    folder = walk.home / "models" / "stable-diffusion-3-medium-diffusers"
    assert (folder / "tokenizer_3" / "tokenizer.json").is_file()
    page_walk.same_blocks("en")


def test_mirror_downloads_turn_xet_off(tutorial):
    """huggingface_hub 2.x fetches large files over Xet, which does not go through HF_ENDPOINT (hub issue
    #4475): every shell block that sets the mirror also sets HF_HUB_DISABLE_XET=1."""
    for lang in ("zh", "en"):
        blocks = re.findall(r"```bash\n(.*?)```", tutorial.page_text(lang), re.S)
        mirrored = [b for b in blocks if "HF_ENDPOINT" in b]
        assert mirrored, f"{lang}: no download through the mirror"
        assert all("export HF_HUB_DISABLE_XET=1" in b for b in mirrored)
        assert any("modelscope download" in b for b in blocks), f"{lang}: no ModelScope route"
    # The one ModelScope form Tutorial 4 uses (ID --local-dir), and the mirror wording Tutorial 7 shares.
    for lang, why in (("zh", "`HF_HUB_DISABLE_XET=1` 必须和 `HF_ENDPOINT` 一起设置"),
                      ("en", "`HF_HUB_DISABLE_XET=1` must be set together with `HF_ENDPOINT`")):
        text = tutorial.page_text(lang)
        assert why in text, lang
        assert re.search(r"modelscope download \{\{ facts.models.sd3 \}\} \\\n *--local-dir ~/models/", text), lang  # in a tab
        assert "modelscope download --model" not in text and "--local_dir" not in text, lang
