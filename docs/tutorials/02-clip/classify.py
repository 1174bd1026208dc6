"""Tutorial 2: zero-shot image classification with CLIP.

    python classify.py IMAGE --model DIR --labels "a diagram" "a dog" "a cat"

CLIP scores how well the image matches each text label; the scores are turned into
probabilities with a softmax over the labels given, printed highest first. The labels must be
English (CLIP ViT-B/32 was trained on English text) and at most 77 tokens each.
The image is prepared as the model expects 8-bit RGB: the EXIF orientation of a phone photo is
applied, 16-bit and floating-point images are scaled to 8 bits (by the range their values use: a
12-bit image, 0 to 4095, becomes 0 to 255), and transparent parts are put on a white background; the
"Image:" line says which of these was done. An image too large for Pillow's safety limit is refused
with a hint to downscale it.
The model is read only from the local folder DIR (downloaded beforehand on the
login/data node): this script never tries the network, so it works on compute nodes.
"""

import argparse
import json
import os
import sys
from pathlib import Path

DEFAULT_LABELS = ["a diagram", "a dog", "a cat"]
WEIGHT_FILES = ["model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json"]
DOWNLOAD_HINT = ("download the model on the login/data node first (Tutorial 2, section "
                 "'Download the model'), then pass its folder with --model")


def fail(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Classify an image against text labels with CLIP.")
    parser.add_argument("image", help="image file (PNG, JPEG, ...)")
    parser.add_argument("--model", default=os.environ.get("CLIP_MODEL_DIR"),
                        help="folder of the downloaded CLIP model (default: $CLIP_MODEL_DIR)")
    parser.add_argument("--labels", nargs="+", default=DEFAULT_LABELS,
                        help='two or more English text labels, at most 77 tokens each '
                             '(default: "a diagram" "a dog" "a cat")')
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto",
                        help="auto: cuda when a GPU is visible, else cpu")
    parser.add_argument("--json", action="store_true",
                        help="print the probabilities as JSON, labels in the order given")
    return parser.parse_args()


def check_labels(labels: list[str]) -> list[str]:
    labels = [label.strip() for label in labels]
    if len(labels) < 2 or any(not label for label in labels):
        fail(f"give at least two non-empty labels after --labels (got {len(labels)}): a softmax over "
             'a single label is always 1.0. Example: --labels "a diagram" "a dog" "a cat"')
    if len(set(labels)) != len(labels):
        fail("each label must be different: " + ", ".join(labels))
    return labels


def to_8bit_rgb(image, path: Path):
    """The image as 8-bit RGB, the way it looks, and a list of what was changed to get there."""
    import numpy as np
    from PIL import Image, ImageOps

    notes = []
    if image.getexif().get(0x0112, 1) not in (0, 1):  # 0x0112: the EXIF orientation tag
        image = ImageOps.exif_transpose(image)
        notes.append("rotated as its EXIF orientation says")
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        values = np.asarray(image, dtype=np.int64)
        kind = "32-bit integer" if image.mode == "I" else "16-bit"
        low, high = int(values.min()), int(values.max())
        if low < 0 or high > 65535:
            fail(f"{path} holds {kind} pixels from {low} to {high}: convert it to an 8-bit PNG or JPEG first")
        # A 16-bit file often holds fewer bits: a 12-bit camera or scanner writes 0..4095, and some tools
        # store 8-bit values (0..255) in a 16- or 32-bit file. Scale by the range the values actually use:
        # the smallest of 8, 10, 12, 14, 16 bits that holds the brightest pixel maps to 0..255.
        bits = next(b for b in (8, 10, 12, 14, 16) if high <= 2**b - 1)
        top = 2**bits - 1
        image = Image.fromarray((values * 255 / top).round().astype(np.uint8))
        if bits == 16 and kind == "16-bit":
            notes.append("16-bit grayscale scaled to 8 bits")
        elif bits == 8:
            notes.append(f"{kind} grayscale holding 8-bit values (0 to 255) taken as they are")
        else:
            notes.append(f"{kind} grayscale holding {bits}-bit values (0 to {top}) scaled to 8 bits")
    elif image.mode == "F":
        values = np.asarray(image, dtype=np.float64)
        low, high = float(np.nanmin(values)), float(np.nanmax(values))
        if not np.isfinite(values).all() or low < 0 or high > 1:
            fail(f"{path} holds floating-point pixels from {low:g} to {high:g} (or NaN): this script reads "
                 "floating-point images with values from 0 to 1 only; convert it to an 8-bit PNG or JPEG first")
        image = Image.fromarray((values * 255).round().astype(np.uint8))
        notes.append("floating-point (0 to 1) scaled to 8 bits")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        if rgba.getchannel("A").getextrema() != (255, 255):
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, rgba)
            notes.append("transparent parts put on white")
    if image.mode not in ("RGB", "L", "P", "1", "CMYK", "YCbCr", "RGBA", "LAB", "HSV"):
        fail(f"{path} has pixels of mode {image.mode}, which this script does not convert: save it as an "
             "8-bit PNG or JPEG first")
    return image.convert("RGB"), notes


def open_image(path: Path):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        fail(f"image file not found: {path} (check the path; the example image is cat.png)")
    try:
        with Image.open(path) as image:
            image.load()
            return to_8bit_rgb(image, path)
    except Image.DecompressionBombError as exc:
        fail(f"{path} is too large for Pillow to open safely ({str(exc).rstrip('.')}). CLIP looks at 224x224 pixels anyway: "
             "make a smaller copy (for example 2000 pixels on the long side) and classify that")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        fail(f"{path} is not an image that Pillow can read ({exc.__class__.__name__}): "
             "give a PNG or JPEG file")


def check_label_length(labels: list[str], processor, model) -> None:
    """CLIP reads at most max_position_embeddings (77) tokens per label, its start and end marks included."""
    limit = model.config.text_config.max_position_embeddings
    for label in labels:
        count = len(processor.tokenizer(label)["input_ids"])
        if count > limit:
            fail(f"the label {label[:40]!r}... is {count} tokens long, but CLIP reads at most {limit} "
                 "(start and end marks included): shorten it to a few English words")


def check_model_folder(model: str | None) -> Path:
    if not model:
        fail(f"no model folder given: use --model DIR or set CLIP_MODEL_DIR; {DOWNLOAD_HINT}")
    folder = Path(model).expanduser()
    if not folder.is_dir():
        fail(f"model folder not found: {folder}; {DOWNLOAD_HINT}")
    config = folder / "config.json"
    if not config.is_file():
        fail(f"{folder} holds no model (no config.json); {DOWNLOAD_HINT}")
    try:
        settings = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        fail(f"{config} is not valid JSON: the download is incomplete, download the model again")
    if not isinstance(settings, dict):
        fail(f"{config} holds a JSON {type(settings).__name__}, not the object of settings a model's "
             "config.json holds: the file is damaged, download the model again")
    model_type = settings.get("model_type")
    if model_type != "clip":
        fail(f"{folder} holds a '{model_type}' model, not CLIP: pass the folder of a CLIP model "
             "(for example openai/clip-vit-base-patch32)")
    if not any((folder / name).is_file() for name in WEIGHT_FILES):
        fail(f"{folder} has config.json but no weights ({', '.join(WEIGHT_FILES)}): "
             "the download is incomplete, run the download command again")
    return folder


def main() -> None:
    args = parse_args()
    labels = check_labels(args.labels)
    image, notes = open_image(Path(args.image))
    folder = check_model_folder(args.model)

    import torch
    from transformers import CLIPModel, CLIPProcessor

    if args.device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif args.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda, but PyTorch sees no GPU: run inside a VSCode app or job that holds a GPU "
             "and check it with nvidia-smi")
    else:
        device = args.device

    try:
        # local_files_only: read the folder, never contact a model hub (compute nodes have no internet).
        model = CLIPModel.from_pretrained(folder, local_files_only=True).to(device).eval()
        processor = CLIPProcessor.from_pretrained(folder, local_files_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged download fails in many ways (safetensors, pickle, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"could not load a CLIP model and processor from {folder} ({exc.__class__.__name__}: {first[:300]}). "
             "A weights file is probably incomplete: run the download command again on the login/data node")

    check_label_length(labels, processor, model)
    inputs = processor(text=labels, images=image, return_tensors="pt", padding=True).to(device)
    with torch.inference_mode():
        logits = model(**inputs).logits_per_image[0]  # one similarity score per label, scaled
    probabilities = logits.softmax(dim=0).cpu().tolist()

    if args.json:
        print(json.dumps({"labels": labels, "probabilities": probabilities}, ensure_ascii=False))
        return
    print(f"Device: {device}" + (f" ({torch.cuda.get_device_name(0)})" if device == "cuda" else ""))
    print(f"Model: {folder}")
    print(f"Image: {args.image} ({image.width}x{image.height}" + "".join(f"; {n}" for n in notes) + ")")
    print(f"Probabilities over the {len(labels)} labels given (softmax, they sum to 1):")
    for probability, label in sorted(zip(probabilities, labels), reverse=True):
        print(f"  {probability:.4f}  {label}")
    best = max(zip(probabilities, labels))[1]
    print(f"Best match: {best}")


if __name__ == "__main__":
    main()
