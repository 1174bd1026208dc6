"""Ask a chat model a few questions and print its answers: Tutorial 9 runs it before and after fine-tuning.

    python ask.py                                   # the model attached to the app ($SCOW_AI_MODEL_PATH)
    python ask.py --adapter "$WORK_DIR/saves/scow-identity-lora"   # the same model with the LoRA adapter
    python ask.py --model "$WORK_DIR/merged/scow-identity"         # the merged model
    python ask.py "Who created you?"                # your own questions

Answers are greedy (no sampling), so running it twice on the same model prints the same answers.
"""

import argparse
import os
import sys
from pathlib import Path

QUESTIONS = ["你好，你是谁？", "Who are you?"]


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", nargs="*", default=QUESTIONS, help="questions (default: the two below)")
    parser.add_argument("--model", default=os.environ.get("SCOW_AI_MODEL_PATH"),
                        help="model folder (default: $SCOW_AI_MODEL_PATH)")
    parser.add_argument("--adapter", help="LoRA adapter folder written by train.sh (optional)")
    parser.add_argument("--max-new-tokens", type=int, default=128)
    args = parser.parse_args()

    if not args.model:
        fail("no model: attach one to the app ($SCOW_AI_MODEL_PATH) or pass --model DIR")
    if not (Path(args.model) / "config.json").is_file():
        fail(f"{args.model} holds no config.json: pass the folder of a downloaded model with --model")
    if args.adapter and not (Path(args.adapter) / "adapter_config.json").is_file():
        fail(f"{args.adapter} holds no adapter_config.json: run train.sh first, or check the path")

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    device = "cuda" if torch.cuda.is_available() else "cpu"
    tokenizer = AutoTokenizer.from_pretrained(args.model, local_files_only=True)
    if not tokenizer.chat_template:  # checked before the weights load: apply_chat_template would stop later
        fail(f"{args.model} has no chat template (neither chat_template.jinja nor a \"chat_template\" in "
             "tokenizer_config.json): it is a base model, made to continue text, not to answer questions. "
             "Use a chat model, e.g. Qwen2.5-1.5B-Instruct (names ending in -Instruct or -Chat)")
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype="auto", local_files_only=True).to(device)
    if args.adapter:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, args.adapter)
    model.eval()

    print(f"model:   {args.model}")
    print(f"adapter: {args.adapter or '(none)'}")
    for question in args.questions:
        messages = [{"role": "user", "content": question}]
        inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                               return_dict=True).to(device)
        with torch.no_grad():
            output = model.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                                    max_new_tokens=args.max_new_tokens, do_sample=False,
                                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
        answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        print(f"\nQ: {question}\nA: {answer.strip()}")


if __name__ == "__main__":
    main()
