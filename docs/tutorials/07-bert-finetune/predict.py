"""Judge whether two sentences say the same thing, with the model train.py saved (SCOW tutorial 7).

    python predict.py "The company said profits rose." "Profits went up, the company said."
    python predict.py --model bert-mrpc "first sentence" "second sentence"
"""

import argparse
import sys
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description="Are two sentences paraphrases? (BERT fine-tuned on MRPC)")
    parser.add_argument("sentence1")
    parser.add_argument("sentence2")
    parser.add_argument("--model", type=Path, default=Path("bert-mrpc"),
                        help="folder saved by train.py (default bert-mrpc)")
    args = parser.parse_args()
    if not (args.model / "config.json").is_file():
        print(f"Error: no trained model in {args.model} (config.json not found). Run train.py first; it "
              "saves the best model to bert-mrpc/ (or to the folder given with --out).", file=sys.stderr)
        sys.exit(2)

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils.logging import disable_progress_bar

    disable_progress_bar()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(args.model, local_files_only=True).to(device)
    model.eval()
    inputs = tokenizer(args.sentence1, args.sentence2, truncation=True, max_length=512, return_tensors="pt")
    with torch.no_grad():
        probabilities = model(**inputs.to(device)).logits.softmax(dim=-1)[0].tolist()
    best = max(range(len(probabilities)), key=probabilities.__getitem__)
    for i, p in enumerate(probabilities):
        print(f"{model.config.id2label[i]:>15}: {p:.3f}")
    print(f"Prediction: {model.config.id2label[best]} (probability {probabilities[best]:.3f})")


if __name__ == "__main__":
    main()
