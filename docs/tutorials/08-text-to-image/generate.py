"""Text-to-image with Stable Diffusion 3 Medium (SCOW AI tutorials, Tutorial 8).

Loads the diffusers folder of stabilityai/stable-diffusion-3-medium-diffusers from local disk (no network),
generates one or more images for a prompt and saves each as a PNG whose file name and embedded text chunks
hold every setting needed to generate it again.

    python generate.py --model ~/models/sd3-medium --prompt "a red fox in the snow, watercolor"
    python generate.py --help

Image i of a run uses seed + i, so any single image can be made again with its own seed and --num-images 1.
Exit codes: 0 done, 2 a wrong argument or model folder, 3 the GPU ran out of memory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import shlex
import sys
import time
from pathlib import Path

# Compute nodes have no internet: never let the Hugging Face libraries try to reach it.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

PIPELINE_CLASS = "StableDiffusion3Pipeline"
T5_PARTS = ("text_encoder_3", "tokenizer_3")
DTYPES = {"fp16": "float16", "bf16": "bfloat16", "fp32": "float32"}
# bf16 runs natively from compute capability 8.0 (A100, RTX 30xx) on; a V100 (7.0) or T4 (7.5) only emulates it,
# slowly, although torch.cuda.is_bf16_supported() answers True there.
BF16_CAPABILITY = (8, 0)
# Any one of these sets of files is a tokenizer transformers can load. Without one, transformers 5 quietly
# builds an empty tokenizer, and the pipeline draws an image from meaningless token ids.
TOKENIZER_FILES = (("tokenizer.json",), ("vocab.json", "merges.txt"), ("spiece.model",), ("tokenizer.model",))


def fail(message: str, code: int = 2) -> None:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(code)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Generate images with Stable Diffusion 3 Medium from a local folder.")
    p.add_argument("--model", required=True,
                   help="folder of stabilityai/stable-diffusion-3-medium-diffusers (holds model_index.json)")
    p.add_argument("--prompt", required=True, help="what the image should show (English works best)")
    p.add_argument("--negative-prompt", default="", help="what the image should not show (default: nothing)")
    p.add_argument("--steps", type=int, default=28, help="denoising steps (default 28)")
    p.add_argument("--guidance", type=float, default=7.0,
                   help="how strictly to follow the prompt, classifier-free guidance scale (default 7.0)")
    p.add_argument("--width", type=int, default=1024, help="image width in pixels, a multiple of 16 (default 1024)")
    p.add_argument("--height", type=int, default=1024, help="image height in pixels, a multiple of 16 (default 1024)")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed of the first image (default: a new random seed, printed and saved)")
    p.add_argument("--num-images", type=int, default=1, help="how many images; image i uses seed + i (default 1)")
    p.add_argument("--output", default="outputs", help="folder for the PNG files (default outputs)")
    p.add_argument("--dtype", choices=["auto", *DTYPES], default="auto",
                   help="weights' precision: auto = bf16 on a GPU of compute capability 8.0 or newer, fp16 on "
                        "older GPUs, fp32 on the CPU (default auto)")
    p.add_argument("--no-t5", action="store_true",
                   help="do not load the large T5 text encoder: less GPU memory, prompts followed less closely")
    p.add_argument("--offload", action="store_true",
                   help="keep parts of the model in CPU memory until they are needed: less GPU memory, slower")
    p.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto",
                   help="auto = the GPU; cpu only for tests with tiny models (default auto)")
    args = p.parse_args(argv)
    for option in ("prompt", "negative_prompt"):
        try:
            getattr(args, option).encode("utf-8")
        except UnicodeEncodeError:
            fail(f"--{option.replace('_', '-')} is not valid UTF-8 text (the terminal or the file it came from "
                 "uses another encoding, e.g. GBK). Set the terminal to UTF-8, or convert the text with "
                 "iconv -f GBK -t UTF-8, then run again.")
    if not args.prompt.strip():
        fail("--prompt is empty: describe the image in quotes, e.g. --prompt \"a red fox in the snow\".")
    output = Path(args.output).expanduser()
    for folder in (output, *output.parents):
        if folder.exists():
            if not folder.is_dir():
                fail(f"--output {args.output}: {folder} is a file, but --output names the folder the PNG files "
                     f"go to. Give a folder, e.g. --output outputs (it is created if it does not exist).")
            break
    if args.steps < 1:
        fail("--steps must be at least 1.")
    if args.num_images < 1:
        fail("--num-images must be at least 1.")
    if args.guidance < 0:
        fail("--guidance cannot be negative.")
    for name in ("width", "height"):
        value = getattr(args, name)
        if value < 16 or value % 16:
            fail(f"--{name} {value}: SD3 needs a multiple of 16 (for example 512, 768, 1024).")
    if args.seed is None:
        args.seed = secrets.randbelow(2**31)
    elif not 0 <= args.seed < 2**63:
        fail("--seed must be a non-negative integer.")
    return args


def check_model_folder(folder: Path, no_t5: bool) -> None:
    """Stop with a clear message unless `folder` is a complete diffusers folder of an SD3 pipeline."""
    if not folder.is_dir():
        fail(f"model folder {folder} does not exist. Download the model on the data node first (see the "
             f"tutorial's download step) and pass the folder with --model.")
    index = folder / "model_index.json"
    if not index.is_file():
        found = sorted(p.name for p in folder.glob("*.safetensors"))
        hint = (f" It holds {', '.join(found[:3])}: that is a single-file checkpoint, not the diffusers layout."
                if found else "")
        fail(f"{folder} is not a diffusers model folder: model_index.json is missing.{hint} Download "
             f"stabilityai/stable-diffusion-3-medium-diffusers (note the -diffusers) and pass the folder that "
             f"contains model_index.json.")
    try:
        components = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        fail(f"{index} cannot be read ({exc}). Download the model again.")
    if components.get("_class_name") != PIPELINE_CLASS:
        fail(f"{folder} holds a {components.get('_class_name')!r} pipeline, not {PIPELINE_CLASS}. "
             f"This script is for stabilityai/stable-diffusion-3-medium-diffusers.")
    missing, no_tokenizer = [], []
    for part, spec in components.items():
        if part.startswith("_") or not isinstance(spec, list) or spec[0] is None:
            continue
        if no_t5 and part in T5_PARTS:
            continue
        sub = folder / part
        weights = list(sub.glob("*.safetensors")) + list(sub.glob("*.bin"))
        if not sub.is_dir() or ((sub / "config.json").is_file() and not weights):
            missing.append(part)
        elif part.startswith("tokenizer") and not any(
                all((sub / name).is_file() for name in names) for names in TOKENIZER_FILES):
            no_tokenizer.append(part)
    if no_tokenizer:
        wanted = " or ".join("+".join(names) for names in TOKENIZER_FILES)
        fail(f"{folder} is incomplete: no tokenizer files in {', '.join(p + '/' for p in no_tokenizer)} (one of "
             f"{wanted} is needed). The download was probably interrupted: run the same download command "
             f"again on the login node (it fetches the missing files), then retry.")
    if missing:
        fail(f"{folder} is incomplete: no files for {', '.join(missing)}. The download was probably interrupted: "
             f"run the same download command again (it resumes), then retry.")


def check_size(folder: Path, args: argparse.Namespace) -> None:
    """Stop before loading when --width/--height exceed what the transformer's position embedding covers:
    pos_embed_max_size patches per side, each patch_size latent pixels, each latent pixel 2**(number of VAE
    blocks - 1) image pixels. diffusers would only fail after the model has loaded, at the first step."""
    try:
        transformer = json.loads((folder / "transformer" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
        patches, patch = int(transformer["pos_embed_max_size"]), int(transformer["patch_size"])
        factor = 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError):
        return  # the loading step reports a damaged config
    limit = patches * patch * factor
    for name in ("width", "height"):
        value = getattr(args, name)
        if value > limit:
            fail(f"--{name} {value}: this model takes at most {limit} pixels per side (its transformer's "
                 f"pos_embed_max_size {patches} x patch_size {patch} x the VAE's factor {factor}). Use {limit} "
                 f"or less, e.g. the default 1024, and enlarge the image afterwards if you need more pixels.")


def pick_dtype(args: argparse.Namespace, torch) -> tuple[str, str]:
    """The weights' dtype and why: bf16 only where the GPU runs it natively (compute capability 8.0+)."""
    if args.device != "cuda":
        return (args.dtype if args.dtype != "auto" else "fp32"), ("chosen with --dtype" if args.dtype != "auto"
                                                                  else "on the CPU")
    major, minor = torch.cuda.get_device_capability(0)
    native = (major, minor) >= BF16_CAPABILITY
    if args.dtype == "bf16" and not native:
        fail(f"--dtype bf16: this GPU (compute capability {major}.{minor}) has no bf16 in hardware and would "
             f"emulate it very slowly. Use --dtype fp16 (the default here) or --dtype fp32.")
    if args.dtype != "auto":
        return args.dtype, "chosen with --dtype"
    if native:
        return "bf16", f"compute capability {major}.{minor} runs bf16 natively"
    return "fp16", f"compute capability {major}.{minor} is below 8.0: bf16 would only be emulated, so fp16"


def out_of_memory_advice(args: argparse.Namespace) -> str:
    steps = []
    if not args.no_t5:
        steps.append("add --no-t5 (drops the T5 text encoder, the largest part)")
    if not args.offload:
        steps.append("add --offload (keeps idle parts in CPU memory)")
    if args.width * args.height > 768 * 768:
        steps.append("use a smaller --width/--height such as 768")
    steps.append("check with nvidia-smi that no other process of yours holds GPU memory")
    return "The GPU ran out of memory. Try, in this order: " + "; ".join(steps) + "."


def file_name(args: argparse.Namespace, seed: int) -> str:
    """Settings in the name; a short hash of both prompts tells apart runs with different prompts."""
    words = re.findall(r"[a-z0-9]+", args.prompt.lower())[:6]
    slug = "-".join(words)[:40].strip("-") or "image"
    digest = hashlib.sha256(f"{args.prompt}\n{args.negative_prompt}".encode()).hexdigest()[:6]
    t5 = "_no-t5" if args.no_t5 else ""
    return (f"{slug}_{digest}_seed{seed}_steps{args.steps}_cfg{args.guidance:g}_"
            f"{args.width}x{args.height}{t5}.png")


def settings(args: argparse.Namespace, seed: int, dtype_name: str) -> dict:
    return {
        "prompt": args.prompt,
        "negative_prompt": args.negative_prompt,
        "seed": seed,
        "steps": args.steps,
        "guidance": args.guidance,
        "width": args.width,
        "height": args.height,
        "dtype": dtype_name,
        "no_t5": args.no_t5,
        "model": Path(args.model).name,
    }


def reproduce_command(s: dict) -> str:
    parts = ["python", "generate.py", "--model", "<model folder>", "--prompt", s["prompt"]]
    if s["negative_prompt"]:
        parts += ["--negative-prompt", s["negative_prompt"]]
    parts += ["--seed", str(s["seed"]), "--steps", str(s["steps"]), "--guidance", f"{s['guidance']:g}",
              "--width", str(s["width"]), "--height", str(s["height"]), "--dtype", s["dtype"]]
    if s["no_t5"]:
        parts.append("--no-t5")
    return " ".join(p if p == "<model folder>" else shlex.quote(p) for p in parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    folder = Path(args.model).expanduser()
    check_model_folder(folder, args.no_t5)
    check_size(folder, args)

    import diffusers
    import numpy as np
    import torch
    from diffusers import StableDiffusion3Pipeline
    from PIL.PngImagePlugin import PngInfo

    if args.device == "auto":
        if not torch.cuda.is_available():
            fail("no GPU is visible. Run this in a VSCode app or a job that has a GPU (单节点GPU卡数 1); "
                 "`nvidia-smi` should list it. (--device cpu runs on the CPU, which is only usable with tiny "
                 "test models.)")
        args.device = "cuda"
    if args.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda, but no GPU is visible: check `nvidia-smi` and the app's GPU count.")
    dtype_name, reason = pick_dtype(args, torch)
    dtype = getattr(torch, DTYPES[dtype_name])
    if args.offload and args.device != "cuda":
        print("Note: --offload only matters on a GPU; ignored on the CPU.")
        args.offload = False

    where = torch.cuda.get_device_name(0) if args.device == "cuda" else "CPU"
    print(f"Model: {folder}")
    print(f"Device: {args.device} ({where}), dtype {dtype_name} ({reason}), "
          f"T5 encoder {'off' if args.no_t5 else 'on'}, CPU offload {'on' if args.offload else 'off'}")
    started = time.perf_counter()
    try:
        extra = {part: None for part in T5_PARTS} if args.no_t5 else {}
        pipe = StableDiffusion3Pipeline.from_pretrained(folder, dtype=dtype, local_files_only=True, **extra)
        if args.offload:
            pipe.enable_model_cpu_offload()  # needs accelerate; moves each part to the GPU only while it runs
        else:
            pipe.to(args.device)
    except torch.OutOfMemoryError:
        fail(out_of_memory_advice(args), code=3)
    except RuntimeError as exc:
        if "out of memory" not in str(exc):
            raise
        fail(out_of_memory_advice(args), code=3)
    except (OSError, ValueError) as exc:
        fail(f"could not load the model from {folder}: {exc}\nIf the download was interrupted, run the download "
             f"command again.")
    print(f"Loaded in {time.perf_counter() - started:.1f} s")

    out_dir = Path(args.output)
    out_dir.mkdir(parents=True, exist_ok=True)
    for i in range(args.num_images):
        seed = args.seed + i
        # The starting noise is drawn on the CPU: the same seed gives the same noise on every machine.
        generator = torch.Generator("cpu").manual_seed(seed)
        started = time.perf_counter()
        try:
            result = pipe(
                prompt=args.prompt,
                negative_prompt=args.negative_prompt,
                num_inference_steps=args.steps,
                guidance_scale=args.guidance,
                width=args.width,
                height=args.height,
                generator=generator,
                output_type="np",
            )
        except torch.OutOfMemoryError:
            fail(out_of_memory_advice(args), code=3)
        except RuntimeError as exc:
            if "out of memory" not in str(exc):
                raise
            fail(out_of_memory_advice(args), code=3)
        pixels = result.images[0]
        if not np.isfinite(pixels).all():
            print("Warning: the image contains NaN values (it will look black). Try --dtype fp32, or "
                  "--dtype bf16 on a GPU of compute capability 8.0 or newer.")
        image = pipe.image_processor.numpy_to_pil(np.nan_to_num(pixels)[None])[0]
        info = settings(args, seed, dtype_name)
        meta = PngInfo()
        meta.add_text("parameters", json.dumps(info, ensure_ascii=False))
        meta.add_text("reproduce", reproduce_command(info))
        meta.add_text("Software", f"generate.py (SCOW AI tutorials), diffusers {diffusers.__version__}")
        path = out_dir / file_name(args, seed)
        image.save(path, pnginfo=meta)
        print(f"Saved {path} ({image.width}x{image.height}, seed {seed}, {args.steps} steps, "
              f"guidance {args.guidance:g}, {time.perf_counter() - started:.1f} s)")
    print(f"Done: {args.num_images} image(s) in {out_dir}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
