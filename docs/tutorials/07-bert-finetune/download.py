"""Download BERT and the GLUE MRPC data and save both to disk (SCOW tutorial 7).

Run it on the login/data node, which has internet access; compute nodes usually have none.

    python download.py                 # writes ./bert-base-uncased/ and ./glue-mrpc/

train.py then reads these two folders without any network access.
"""

import argparse
import os
import sys
from pathlib import Path

MODEL_ID = "google-bert/bert-base-uncased"
DATASET_ID = "nyu-mll/glue"


def fail(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(2)


def no_network(what: str, exc: Exception) -> None:
    fail(f"could not download {what}: {type(exc).__name__}: {exc}\n"
         "Run download.py on the login/data node (it has internet access; compute nodes and VSCode apps "
         "usually do not), with HF_HUB_OFFLINE unset. If huggingface.co cannot be reached from your cluster, "
         "set a mirror first, e.g. export HF_ENDPOINT=https://hf-mirror.com (download.py then also sets "
         "HF_HUB_DISABLE_XET=1)")


def main() -> None:
    parser = argparse.ArgumentParser(description="Save BERT and GLUE MRPC to disk for offline training.")
    parser.add_argument("--model", default=MODEL_ID, help=f"model id on the Hub (default {MODEL_ID})")
    parser.add_argument("--dataset", default=DATASET_ID, help=f"dataset id on the Hub (default {DATASET_ID})")
    parser.add_argument("--config", default="mrpc", help="the GLUE task (default mrpc)")
    parser.add_argument("--out", type=Path, default=Path("."), help="where to create the two folders")
    args = parser.parse_args()

    if os.environ.get("HF_ENDPOINT") and "HF_HUB_DISABLE_XET" not in os.environ:
        # Through a mirror, large files must not take the Xet path: it goes to Hugging Face's own servers and
        # hangs where huggingface.co cannot be reached. Set before huggingface_hub is imported (it reads it once).
        os.environ["HF_HUB_DISABLE_XET"] = "1"
        print(f"Downloading through {os.environ['HF_ENDPOINT']} (HF_HUB_DISABLE_XET=1 set)", flush=True)

    from datasets import load_dataset
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging

    # Loading the encoder alone skips the checkpoint's pre-training heads; do not list them as a warning.
    logging.set_verbosity_error()

    model_dir = args.out / "bert-base-uncased"
    data_dir = args.out / f"glue-{args.config}"

    print(f"Downloading {args.model} ...", flush=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(args.model)
        model = AutoModel.from_pretrained(args.model)
    except OSError as exc:
        no_network(args.model, exc)
    tokenizer.save_pretrained(model_dir)
    model.save_pretrained(model_dir)
    size = sum(p.numel() for p in model.parameters())
    print(f"Saved the model ({size:,} parameters) and its tokenizer to {model_dir}", flush=True)

    print(f"Downloading {args.dataset} ({args.config}) ...", flush=True)
    try:
        data = load_dataset(args.dataset, args.config)
    except (OSError, ConnectionError, ValueError) as exc:
        no_network(f"{args.dataset} ({args.config})", exc)
    data.save_to_disk(str(data_dir))
    splits = ", ".join(f"{name} {len(split)}" for name, split in data.items())
    print(f"Saved the dataset to {data_dir}: {splits} sentence pairs", flush=True)
    print(f"Done. Next: python train.py --model {model_dir} --data {data_dir}")


if __name__ == "__main__":
    main()
