"""Fine-tune BERT on GLUE MRPC: are two sentences paraphrases of each other? (SCOW tutorial 7)

Reads the model and the data that download.py saved to disk; needs no network.

    python train.py                                   # ./bert-base-uncased + ./glue-mrpc -> ./bert-mrpc
    python train.py --epochs 5 --lr 3e-5 --out bert-mrpc-lr3e-5

After every epoch it prints the loss, and the accuracy and F1 on the validation set; the epoch with the best
F1 is saved (model and tokenizer) to --out, with its metrics in metrics.json.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path


def fail(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Fine-tune BERT on GLUE MRPC (SCOW tutorial 7).")
    parser.add_argument("--model", type=Path, default=Path("bert-base-uncased"),
                        help="folder saved by download.py (default bert-base-uncased)")
    parser.add_argument("--data", type=Path, default=Path("glue-mrpc"),
                        help="folder saved by download.py (default glue-mrpc)")
    parser.add_argument("--out", type=Path, default=Path("bert-mrpc"), help="where the best model is saved")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-5, help="peak learning rate of AdamW")
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--warmup", type=float, default=0.1, help="fraction of the steps spent warming up")
    parser.add_argument("--max-length", type=int, default=128, help="longest input in tokens (pair together)")
    parser.add_argument("--precision", choices=["auto", "bf16", "fp16", "fp32"], default="auto",
                        help="auto: bf16 on GPUs of compute capability 8.0 or newer (A100, H100, RTX 30xx), "
                        "fp16 with loss scaling on older ones (V100, T4); always fp32 on CPU")
    parser.add_argument("--device", choices=["auto", "cuda", "cpu"], default="auto")
    parser.add_argument("--seed", type=int, default=42)
    return parser.parse_args()


# Files a saved tokenizer consists of: tokenizer.json (the fast tokenizer save_pretrained writes) or BERT's
# vocab.txt. Without them Transformers 5 builds an empty tokenizer without a word of warning, and every word
# becomes [UNK]: training would run and learn nothing.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
# The loaded tokenizer is tried on the first training pairs: the model's own tokenizer knows nearly every word
# (WordPiece splits rare words into known pieces), so more than a fifth [UNK] means a wrong tokenizer.
UNK_SAMPLE = 100
UNK_LIMIT = 0.2


def check_inputs(args: argparse.Namespace) -> None:
    """Clear errors for the usual mistakes, before the slow imports."""
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            fail(f"--{name.replace('_', '-')} {getattr(args, name)}: must be at least 1")
    hint = ("Run python download.py on the login/data node first (it creates bert-base-uncased/ and "
            "glue-mrpc/), then run train.py in the same folder, or pass --model/--data.")
    if not (args.model / "config.json").is_file():
        fail(f"no model in {args.model} (config.json not found). {hint}")
    if not any((args.model / name).is_file() for name in TOKENIZER_FILES):
        fail(f"no tokenizer in {args.model} (neither {' nor '.join(TOKENIZER_FILES)} found): the folder holds "
             f"a model without its tokenizer. {hint}")
    if not (args.data / "dataset_dict.json").is_file():
        fail(f"no saved dataset in {args.data} (dataset_dict.json not found). {hint}")


def check_tokenizer(tokenizer, vocab_size: int, data, folder: Path) -> None:
    """A tokenizer that cannot read the sentences turns them into [UNK] and training learns nothing (F1 0)
    without any error: compare its size with the model's and try it on the first training pairs."""
    fix = (f"The tokenizer in {folder} does not belong to this model: run python download.py again on the "
           "login/data node (it saves the model together with its own tokenizer).")
    if len(tokenizer) < vocab_size // 2 or len(tokenizer) > vocab_size:
        fail(f"the tokenizer in {folder} has {len(tokenizer):,} tokens, but the model's embedding has "
             f"{vocab_size:,} rows. {fix}")
    unk = tokenizer.unk_token_id
    if unk is None:
        return
    first = data["train"].select(range(min(UNK_SAMPLE, len(data["train"]))))
    special = set(tokenizer.all_special_ids) - {unk}
    ids = [i for row in tokenizer(list(first["sentence1"]), list(first["sentence2"]))["input_ids"] for i in row
           if i not in special]
    share = ids.count(unk) / max(len(ids), 1)
    if share > UNK_LIMIT:
        fail(f"the tokenizer in {folder} turns {share:.0%} of the tokens of the first {len(first)} training "
             f"pairs into {tokenizer.unk_token} (unknown). {fix}")


def load_saved_data(folder: Path):
    """load_from_disk, with a clear error for a split saved without rows (Datasets cannot read it back)."""
    from datasets import load_from_disk

    for split in ("train", "validation"):
        state = folder / split / "state.json"
        if state.is_file() and not json.loads(state.read_text()).get("_data_files", [None]):
            fail(f"{folder}: the {split} split is empty (0 sentence pairs, no data files in {folder / split}). "
                 f"Save the data again with download.py.")
    try:
        return load_from_disk(str(folder))
    except Exception as exc:  # a damaged or partly copied folder
        fail(f"could not read the saved dataset in {folder} ({type(exc).__name__}: {exc}). Save it again with "
             f"download.py.")


def check_data(data, folder: Path) -> None:
    """The label column must be a ClassLabel (names for the classes) holding valid class ids, and both splits
    must have rows: otherwise training would crash half-way, or evaluate on nothing."""
    from datasets import ClassLabel

    fix = "Save the data again with download.py, which keeps GLUE's label names."
    for split in ("train", "validation"):
        feature = data[split].features["label"]
        if not isinstance(feature, ClassLabel):
            fail(f"{folder}: the label column of the {split} split is {feature!r}, not a ClassLabel with the "
                 f"class names (not_equivalent, equivalent). {fix} For your own data, cast it: "
                 f"ds.cast_column('label', ClassLabel(names=['not_equivalent', 'equivalent'])).")
        if len(data[split]) == 0:
            fail(f"{folder}: the {split} split is empty (0 sentence pairs). {fix}")
        values = set(data[split].unique("label"))
        if not values <= set(range(feature.num_classes)):
            bad = sorted(values - set(range(feature.num_classes)))
            fail(f"{folder}: the {split} split has labels {bad}, outside 0..{feature.num_classes - 1} "
                 f"({', '.join(feature.names)}); -1 marks a hidden label, as in GLUE's test split, which "
                 f"cannot be trained or evaluated on. {fix}")
    if data["train"].features["label"].names != data["validation"].features["label"].names:
        fail(f"{folder}: the train and validation splits name their labels differently. {fix}")


def main() -> None:
    args = parse_args()
    check_inputs(args)

    import numpy as np
    import torch
    from sklearn.metrics import accuracy_score, f1_score
    from torch.utils.data import DataLoader
    from transformers import (AutoConfig, AutoModelForSequenceClassification, AutoTokenizer,
                              DataCollatorWithPadding, get_linear_schedule_with_warmup)
    from datasets.utils.logging import disable_progress_bar as quiet_datasets
    from transformers.utils.logging import disable_progress_bar as quiet_transformers

    quiet_datasets()  # progress bars would fill a batch job's output file; the script prints its own lines
    quiet_transformers()

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)

    # ---- device and precision
    if args.device == "cuda" and not torch.cuda.is_available():
        fail("--device cuda, but PyTorch sees no GPU. Run in a VSCode app or batch job with a GPU "
             "(nvidia-smi must list it), or use --device cpu.")
    device = torch.device("cuda" if args.device != "cpu" and torch.cuda.is_available() else "cpu")
    precision = args.precision
    if device.type == "cpu":
        precision = "fp32"  # mixed precision is for the GPU
        print(f"Device: cpu (CPU), precision {precision}", flush=True)
    else:
        # bf16 tensor cores start with compute capability 8.0 (Ampere). torch.cuda.is_bf16_supported() is no
        # guide: it is True on a V100 or T4 too, where bf16 is emulated and slow. Older GPUs get fp16.
        major, minor = torch.cuda.get_device_capability(device)
        if precision == "auto":
            precision = "bf16" if major >= 8 else "fp16"
        elif precision == "bf16" and major < 8:
            fail(f"--precision bf16: this GPU has compute capability {major}.{minor}; bf16 needs 8.0 or newer "
                 f"(A100, H100, RTX 30xx). Use --precision auto (fp16 here) or fp16.")
        scaling = " with loss scaling (GradScaler)" if precision == "fp16" else ""
        print(f"Device: cuda ({torch.cuda.get_device_name(device)}, compute capability {major}.{minor}), "
              f"precision {precision}{scaling}", flush=True)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)

    # ---- data: sentence pairs -> token ids; padding happens per batch (dynamic padding)
    data = load_saved_data(args.data)
    for split in ("train", "validation"):
        if split not in data or not {"sentence1", "sentence2", "label"} <= set(data[split].column_names):
            fail(f"{args.data} is not GLUE MRPC: it needs train and validation splits with the columns "
                 "sentence1, sentence2 and label. Save it again with download.py.")
    check_data(data, args.data)
    labels = data["train"].features["label"].names  # ['not_equivalent', 'equivalent']
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    check_tokenizer(tokenizer, AutoConfig.from_pretrained(args.model, local_files_only=True).vocab_size, data,
                    args.model)

    def tokenize(batch):
        return tokenizer(batch["sentence1"], batch["sentence2"], truncation=True, max_length=args.max_length)

    keep = {"train": data["train"], "validation": data["validation"]}
    encoded = {split: ds.map(tokenize, batched=True, remove_columns=[c for c in ds.column_names if c != "label"])
               .rename_column("label", "labels") for split, ds in keep.items()}
    collator = DataCollatorWithPadding(tokenizer)
    generator = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(encoded["train"], batch_size=args.batch_size, shuffle=True, collate_fn=collator,
                              generator=generator)
    valid_loader = DataLoader(encoded["validation"], batch_size=args.batch_size * 2, collate_fn=collator)
    print(f"Data: {len(encoded['train'])} training pairs, {len(encoded['validation'])} validation pairs",
          flush=True)

    # ---- model, optimizer, schedule
    model = AutoModelForSequenceClassification.from_pretrained(
        args.model, num_labels=len(labels), id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)}, local_files_only=True).to(device)
    no_decay = ("bias", "LayerNorm.weight", "layernorm.weight", "norm.weight")
    groups = [
        {"params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
         "weight_decay": args.weight_decay},
        {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW(groups, lr=args.lr)
    total_steps = args.epochs * len(train_loader)
    warmup_steps = math.ceil(args.warmup * total_steps)
    scheduler = get_linear_schedule_with_warmup(optimizer, warmup_steps, total_steps)
    scaler = torch.amp.GradScaler("cuda", enabled=precision == "fp16")  # fp16 needs loss scaling, bf16 not
    epochs = f"{args.epochs} epoch{'s' if args.epochs != 1 else ''}"
    print(f"Training: {epochs} x {len(train_loader)} steps, batch size {args.batch_size}, "
          f"AdamW lr {args.lr:g}, {warmup_steps} warm-up steps then linear decay", flush=True)

    def autocast():
        return torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=amp_dtype is not None)

    def evaluate():
        model.eval()
        predictions, truth, loss_sum = [], [], 0.0
        with torch.no_grad():
            for batch in valid_loader:
                batch = {k: v.to(device) for k, v in batch.items()}
                with autocast():
                    out = model(**batch)
                loss_sum += out.loss.item() * len(batch["labels"])
                predictions += out.logits.argmax(dim=-1).tolist()
                truth += batch["labels"].tolist()
        return (loss_sum / len(truth), accuracy_score(truth, predictions),
                f1_score(truth, predictions, pos_label=1, zero_division=0))

    best = {"f1": -1.0}
    started = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        epoch_start, loss_sum, seen = time.perf_counter(), 0.0, 0
        for batch in train_loader:
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast():
                loss = model(**batch).loss
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loss_sum += loss.item() * len(batch["labels"])
            seen += len(batch["labels"])
        valid_loss, accuracy, f1 = evaluate()
        print(f"epoch {epoch}/{args.epochs}  train loss {loss_sum / seen:.4f}  valid loss {valid_loss:.4f}  "
              f"accuracy {accuracy:.4f}  F1 {f1:.4f}  ({time.perf_counter() - epoch_start:.0f} s)", flush=True)
        if f1 > best["f1"]:
            best = {"epoch": epoch, "accuracy": accuracy, "f1": f1, "valid_loss": valid_loss}
            model.save_pretrained(args.out)
            tokenizer.save_pretrained(args.out)
            print(f"  best so far: saved to {args.out}", flush=True)

    best.update(epochs=args.epochs, lr=args.lr, batch_size=args.batch_size, precision=precision,
                seconds=round(time.perf_counter() - started, 1))
    (args.out / "metrics.json").write_text(json.dumps(best, indent=2) + "\n")
    print(f"Best epoch {best['epoch']}: accuracy {best['accuracy']:.4f}, F1 {best['f1']:.4f}. "
          f"Model and tokenizer saved to {args.out}", flush=True)


if __name__ == "__main__":
    main()
