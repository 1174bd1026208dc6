"""Chat with a local instruction-tuned LLM (SCOW tutorial 6: Qwen3-4B-Instruct-2507 on the AI platform).

The model is read from a folder: --model PATH, or else $SCOW_AI_MODEL_PATH, which the AI platform sets to
the mount point of the model attached to the app. Nothing is downloaded.

    python llm_inference.py --prompt "Explain what a GPU is in two sentences."   # one question, one answer
    python llm_inference.py                                                       # interactive chat

In the chat, type a message and press Enter; /reset forgets the conversation, /exit (or Ctrl-D) quits.
The answer is printed while it is generated (streaming).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

# torch and transformers take several seconds to import: they are imported only after the model folder is
# checked, so that a wrong path is reported at once.

try:
    import readline  # noqa: F401  (line editing and history for input() in the chat)
except ImportError:
    pass

# Sampling settings recommended on the Qwen3-4B-Instruct-2507 model card.
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.8
DEFAULT_TOP_K = 20
DEFAULT_MAX_NEW_TOKENS = 1024
WEIGHT_FILES = ("*.safetensors", "*.bin")
# Any one of these sets of files is a tokenizer transformers can load (the same list as Tutorial 4's
# check_model.py). Without one, transformers 5 quietly builds an empty tokenizer and fails much later.
TOKENIZER_FILES = (("tokenizer.json",), ("tokenizer.model",), ("vocab.json", "merges.txt"), ("vocab.txt",))
# bfloat16 runs natively from compute capability 8.0 (A100, RTX 30xx) on. Older GPUs (V100 7.0, T4 and
# RTX 20xx 7.5) emulate it slowly, although torch.cuda.is_bf16_supported() answers True there.
BF16_CAPABILITY = (8, 0)


def fail(message: str, code: int = 2) -> None:
    print(f"Error: {message}", file=sys.stderr)
    sys.exit(code)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Chat with a local LLM (SCOW tutorial 6).")
    parser.add_argument("--model", help="model folder (default: $SCOW_AI_MODEL_PATH)")
    parser.add_argument("--prompt", help="ask one question and exit; without it, start an interactive chat")
    parser.add_argument("--system", default=None, help="optional system prompt")
    parser.add_argument("--max-new-tokens", type=int, default=DEFAULT_MAX_NEW_TOKENS,
                        help=f"longest answer, in tokens (default {DEFAULT_MAX_NEW_TOKENS})")
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    parser.add_argument("--top-p", type=float, default=DEFAULT_TOP_P)
    parser.add_argument("--top-k", type=int, default=DEFAULT_TOP_K)
    parser.add_argument("--greedy", action="store_true", help="no sampling: always take the likeliest token")
    parser.add_argument("--dtype", choices=["auto", "bfloat16", "float16", "float32"], default="auto",
                        help="auto: bfloat16 on GPUs of compute capability 8.0 or newer, float16 on older "
                             "GPUs, float32 on the CPU")
    parser.add_argument("--seed", type=int, default=None, help="fix the random sampling (reproducible answers)")
    args = parser.parse_args()
    if args.max_new_tokens < 1:
        fail(f"--max-new-tokens {args.max_new_tokens}: the answer must be allowed at least 1 token. "
             f"Leave the option out (default {DEFAULT_MAX_NEW_TOKENS}) or give a positive number such as 256.")
    for option in ("prompt", "system"):
        text = getattr(args, option)
        if text is None:
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            fail(f"--{option} is not valid UTF-8 text (the terminal or the file it came from uses another "
                 "encoding, e.g. GBK). Set the terminal to UTF-8 or convert the text with "
                 "iconv -f GBK -t UTF-8, then run again.")
        if not text.strip():
            fail(f"--{option} is empty. Write the question in quotes, e.g. --prompt \"What is a GPU?\", "
                 "or leave --prompt out to start the interactive chat.")
    return args


def has_model(folder: Path) -> bool:
    return (folder / "config.json").is_file() and any(any(folder.glob(p)) for p in WEIGHT_FILES)


def check_tokenizer(folder: Path) -> None:
    """Stop unless the folder holds the tokenizer's files (transformers would build an empty one)."""
    if any(all((folder / name).is_file() for name in names) for names in TOKENIZER_FILES):
        return
    wanted = " or ".join("+".join(names) for names in TOKENIZER_FILES)
    fail(f"{folder} has the model's weights but no tokenizer files ({wanted}). The download is incomplete: "
         "on the login node, check the folder with Tutorial 4's check_model.py and run the same download "
         "command again (it fetches the missing files); then attach the complete folder again.")


def check_weights(folder: Path) -> None:
    """Stop unless every *.safetensors file is as long as its own header says. A download cut off halfway
    leaves a shorter file; transformers would read gigabytes before failing on it with a SafetensorError."""
    for path in sorted(folder.glob("*.safetensors")):
        size = path.stat().st_size
        try:
            with path.open("rb") as file:
                header_size = int.from_bytes(file.read(8), "little")
                if 8 + header_size > size:
                    raise ValueError("header longer than the file")
                header = json.loads(file.read(header_size))
            end = max((entry["data_offsets"][1] for name, entry in header.items() if name != "__metadata__"),
                      default=0)
        except (ValueError, KeyError, TypeError, IndexError):
            end = None
        if end is None or size < 8 + header_size + end:
            have = f"has {size:,} bytes" + ("" if end is None else f" of the {8 + header_size + end:,} it needs")
            fail(f"{path} is incomplete (it {have}): the download was cut off. On the login node, run the "
                 "same download command again (it fetches the file again) and check the folder with "
                 "Tutorial 4's check_model.py; then create the app again.")


def find_model(args: argparse.Namespace) -> Path:
    """The model folder from --model or $SCOW_AI_MODEL_PATH, with a clear error when there is none."""
    given = args.model or os.environ.get("SCOW_AI_MODEL_PATH", "")
    source = "--model" if args.model else "SCOW_AI_MODEL_PATH"
    if not given:
        fail("no model given. SCOW_AI_MODEL_PATH is not set (no model was attached when the app was created) "
             "and --model was not passed. Attach the model under 模型 when you create the app, or run "
             "python llm_inference.py --model /path/to/Qwen3-4B-Instruct-2507")
    if ":" in given:
        fail(f"{source} holds several folders ({given}): several models are attached. "
             "Pick one with --model FOLDER.")
    folder = Path(given).expanduser()
    if not folder.is_dir():
        fail(f"model folder {folder} (from {source}) does not exist. Check the path; the folder must hold "
             "config.json and the *.safetensors weight files.")
    if has_model(folder):
        check_tokenizer(folder)
        check_weights(folder)
        return folder
    # The attached model may be mounted one or two levels above the files (e.g. <mount>/<version>/).
    configs = [*folder.glob("*/config.json"), *folder.glob("*/*/config.json")]
    inside = sorted({p.parent for p in configs if has_model(p.parent)})
    if len(inside) == 1:
        print(f"Using the model in {inside[0]}", file=sys.stderr)
        check_tokenizer(inside[0])
        check_weights(inside[0])
        return inside[0]
    listing = ", ".join(sorted(p.name for p in folder.iterdir())[:10]) or "nothing"
    fail(f"{folder} (from {source}) holds no model: config.json and *.safetensors weights are missing "
         f"(it contains: {listing}). Point --model at the folder the model was downloaded to "
         "(Tutorial 4), or attach a model version that holds the files.")
    raise AssertionError  # not reached


def pick_dtype(choice: str):
    """The weights' dtype and why it was chosen (printed with the loading line)."""
    import torch

    if choice != "auto":
        return getattr(torch, choice), "chosen with --dtype"
    if not torch.cuda.is_available():
        return torch.float32, "no GPU visible: this is slow for a 4B model"
    major, minor = torch.cuda.get_device_capability(0)
    if (major, minor) >= BF16_CAPABILITY:
        return torch.bfloat16, f"compute capability {major}.{minor} runs bfloat16 natively"
    return torch.float16, (f"compute capability {major}.{minor} is below 8.0: bfloat16 would only be emulated "
                           "(slowly), so float16")


def oom_advice(where: str) -> str:
    import torch

    if torch.cuda.is_available():
        total = torch.cuda.get_device_properties(0).total_memory / 2**30
        gpu = f"{torch.cuda.get_device_name(0)}, {total:.0f} GiB"
    else:
        gpu = "no GPU"
    if where == "loading the model":
        first = ""
    else:
        first = "a shorter conversation (/reset, or start again: every earlier turn is part of the input), "
    return (f"out of memory while {where} ({gpu}). What to change: {first}"
            "no other program on the GPU (nvidia-smi lists the processes that hold its memory: end them, "
            "e.g. a Python still running in another terminal), a GPU with more memory (the 4B model needs "
            "about 8 GB for its weights in bfloat16 or float16, plus the conversation's KV cache), "
            "or a smaller model such as Qwen2.5-1.5B-Instruct.")


class OutOfMemory(Exception):
    """The GPU ran out of memory; the message says what to change."""


def make_streamer(tokenizer):
    """A streamer that prints the answer as it is generated and keeps its text for the chat history."""
    from transformers import TextStreamer

    class Streamer(TextStreamer):
        def __init__(self):
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.text = ""

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            self.text += text
            print(text, end="\n" if stream_end else "", flush=True)

    return Streamer()


def answer(model, tokenizer, messages: list[dict], args: argparse.Namespace) -> str:
    """Generate one assistant reply to the conversation, streaming it to the terminal."""
    import torch

    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    inputs = inputs.to(model.device)  # the inputs go where the model's first layer is
    prompt_tokens = inputs["input_ids"].shape[1]
    sampling = ({"do_sample": False} if args.greedy else
                {"do_sample": True, "temperature": args.temperature, "top_p": args.top_p, "top_k": args.top_k})
    streamer = make_streamer(tokenizer)
    started = time.perf_counter()
    try:
        output = model.generate(**inputs, max_new_tokens=args.max_new_tokens, streamer=streamer, **sampling)
    except torch.OutOfMemoryError as exc:
        raise OutOfMemory(oom_advice(f"answering a {prompt_tokens}-token conversation")) from exc
    seconds = time.perf_counter() - started
    new_tokens = output.shape[1] - prompt_tokens
    note = " (stopped at --max-new-tokens)" if new_tokens >= args.max_new_tokens else ""
    print(f"[prompt {prompt_tokens} tokens, answer {new_tokens} tokens{note}, "
          f"{new_tokens / max(seconds, 1e-9):.1f} tokens/s]", file=sys.stderr, flush=True)
    return streamer.text.strip()


NOT_UTF8 = ("the input on stdin is not valid UTF-8 text (a file saved as GBK, for example). Convert it with "
            "iconv -f GBK -t UTF-8 FILE > FILE.utf8 and pipe that in, or set the terminal to UTF-8.")


def piped_lines() -> list[str] | None:
    """Questions piped in (printf ... | python llm_inference.py) are read and checked before the model loads;
    None when stdin is a terminal (the chat then reads line by line)."""
    if sys.stdin is None or sys.stdin.isatty():
        return None
    try:
        return sys.stdin.buffer.read().decode("utf-8").splitlines()
    except UnicodeDecodeError:
        fail(NOT_UTF8)
    raise AssertionError  # not reached


def read_line(piped: list[str] | None) -> str:
    """The next message; EOFError at the end of the input."""
    if piped is None:
        try:
            line = input("You> ")
            line.encode("utf-8")  # undecodable bytes arrive as surrogates in a non-UTF-8 locale
        except (UnicodeDecodeError, UnicodeEncodeError):
            fail(NOT_UTF8)
        return line
    print("You> ", end="", flush=True)
    if not piped:
        raise EOFError
    return piped.pop(0)


def chat(model, tokenizer, args: argparse.Namespace, piped: list[str] | None) -> None:
    import torch

    history: list[dict] = [{"role": "system", "content": args.system}] if args.system else []
    start = list(history)
    print("Chat started. Type a message and press Enter; /reset forgets the conversation, /exit quits.",
          flush=True)
    while True:
        try:
            line = read_line(piped)
        except EOFError:
            print()
            break
        line = line.strip()
        if not line:
            continue
        if line in {"/exit", "/quit"}:
            break
        if line == "/reset":
            history = list(start)
            print("(conversation cleared)", flush=True)
            continue
        history.append({"role": "user", "content": line})
        print("Assistant> ", end="", flush=True)
        try:
            reply = answer(model, tokenizer, history, args)
        except OutOfMemory as exc:
            history.pop()  # forget the message that did not fit; the chat goes on
            torch.cuda.empty_cache()
            print(f"\nError: {exc}", file=sys.stderr, flush=True)
            continue
        history.append({"role": "assistant", "content": reply})
    print("Bye.")


def report_offload(model) -> None:
    """Say so when accelerate put part of the model on the CPU or the disk (the GPU memory was too small):
    it still answers, but many times slower."""
    placed = getattr(model, "hf_device_map", None) or {}
    offloaded = [name for name, device in placed.items() if device in ("cpu", "disk")]
    if not offloaded:
        return
    where = " and ".join(sorted({"CPU" if placed[name] == "cpu" else "disk" for name in offloaded}))
    print(f"Warning: {len(offloaded)} of the model's {len(placed)} parts did not fit in the GPU memory and were "
          f"put on the {where} ({', '.join(offloaded[:3])}{', ...' if len(offloaded) > 3 else ''}). "
          "Answers will be many times slower. End other programs on the GPU (nvidia-smi), use a GPU with more "
          "memory, or a smaller model such as Qwen2.5-1.5B-Instruct.", file=sys.stderr, flush=True)


def main() -> None:
    args = parse_args()
    folder = find_model(args)
    piped = None if args.prompt else piped_lines()
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForCausalLM, AutoTokenizer

    # The tokenizer loads in a second; its chat template is checked before the weights (minutes) load.
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    except (OSError, ValueError) as exc:
        fail(f"could not load the tokenizer from {folder}: {exc}")
    if not tokenizer.chat_template:
        fail(f"the tokenizer in {folder} has no chat template, so this is not a chat model (a base model "
             "only continues text). Use an instruction-tuned model, e.g. Qwen3-4B-Instruct-2507.")
    dtype, reason = pick_dtype(args.dtype)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    if torch.cuda.is_available():
        where = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        placement = {"device_map": "auto"}  # accelerate places the layers on the GPU(s)
    else:
        where = "CPU"
        placement = {}
    print(f"Loading {folder} as {str(dtype).removeprefix('torch.')} on {where} ({reason})", file=sys.stderr,
          flush=True)
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, local_files_only=True, **placement)
    except torch.OutOfMemoryError:
        fail(oom_advice("loading the model"), code=3)
    except (OSError, ValueError, SafetensorError) as exc:
        fail(f"could not load the model from {folder}: {exc}. If a file is damaged, run the download "
             "command again on the login node and check the folder with Tutorial 4's check_model.py.")
    model.eval()
    size = sum(p.numel() for p in model.parameters())
    size_text = f"{size / 1e9:.2f} billion" if size >= 1e8 else f"{size:,}"
    print(f"Model ready: {size_text} parameters on {model.device}", file=sys.stderr, flush=True)
    report_offload(model)

    if args.prompt:
        messages = ([{"role": "system", "content": args.system}] if args.system else [])
        try:
            answer(model, tokenizer, messages + [{"role": "user", "content": args.prompt}], args)
        except OutOfMemory as exc:
            fail(str(exc), code=3)
    else:
        chat(model, tokenizer, args, piped)


if __name__ == "__main__":
    main()
