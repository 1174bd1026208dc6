"""Tutorial 4: check a downloaded model folder before spending GPU hours on it.

    python check_model.py DIR

Checks that config.json and the tokenizer files are there and parse, that every weight file
named in model.safetensors.index.json is present, and that each safetensors file is complete:
its header parses, it lists at least one tensor and the file is exactly as long as those tensors.
A model in PyTorch's older .bin format (pytorch_model.bin, or shards named in
pytorch_model.bin.index.json) is never unpickled, which could run code: each file must be the zip
archive torch.save writes, with a data.pkl inside and every member matching its CRC-32 checksum
(this reads the whole file once), or start like PyTorch's pre-1.6 format. Prints the number of
parameters and the size; exit code 0 when the folder is complete, 2 with one line per defect.
Only Python's standard library is used; safetensors files are checked from their headers, so a model
of many GB takes seconds (.bin files take as long as reading them). Run it on the login/data node
right after the download.
"""

import json
import struct
import sys
import zipfile
from pathlib import Path

DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1,
               "U64": 8, "U32": 4, "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1,
               "F8_E8M0": 1}
TOKENIZER_FILES = [["tokenizer.json"], ["tokenizer.model"], ["vocab.json", "merges.txt"], ["vocab.txt"]]
MAX_HEADER = 100 * 1024 * 1024
# The first bytes of torch.save's format before PyTorch 1.6: a pickled magic number (protocol 2).
LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
FIX = ("run the same download command again: it keeps the complete files and fetches the missing "
       "or damaged ones")


def human(count: float, unit: str = "B") -> str:
    """1234567 -> '1.23 MB'; parameters use the same steps (K, M, B for billion)."""
    steps = ["", "K", "M", "G"] if unit == "B" else ["", "K", "M", "B"]
    for step in steps:
        if count < 1000 or step == steps[-1]:
            text = f"{count:.0f}" if step == "" else f"{count:.2f}"
            return f"{text} {step}{unit}".strip() if unit == "B" else f"{text}{step}"
        count /= 1000
    return str(count)


class Report:
    def __init__(self) -> None:
        self.defects: list[str] = []

    def ok(self, message: str) -> None:
        print(f"  ok      {message}")

    def defect(self, message: str) -> None:
        self.defects.append(message)
        print(f"  DEFECT  {message}")


def read_json(path: Path, report: Report):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        report.defect(f"{path.name}: not valid JSON ({exc}); the file is damaged or incomplete")
        return None


def check_config(folder: Path, report: Report) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        report.defect("config.json: missing; without it no library can build the model")
        return {}
    config = read_json(path, report)
    if config is None:
        return {}
    if not isinstance(config, dict) or not config:
        what = "an empty object" if isinstance(config, dict) else f"a JSON {type(config).__name__}"
        report.defect(f"config.json: {what}, not the model's settings; the file is damaged; {FIX}")
        return {}
    architectures = ", ".join(config.get("architectures") or ["?"])
    report.ok(f"config.json (model_type {config.get('model_type', '?')}, {architectures})")
    return config


def check_tokenizer(folder: Path, report: Report) -> None:
    found = next((names for names in TOKENIZER_FILES if all((folder / n).is_file() for n in names)), None)
    if found is None:
        report.defect("tokenizer: no tokenizer.json, tokenizer.model, vocab.json + merges.txt or vocab.txt")
        return
    names = list(found)
    if (folder / "tokenizer_config.json").is_file():
        names.append("tokenizer_config.json")
    else:
        report.defect("tokenizer_config.json: missing")
    broken = [n for n in names if n.endswith(".json") and read_json(folder / n, report) is None]
    if not broken:
        report.ok("tokenizer: " + ", ".join(names))


def read_header(path: Path) -> tuple[dict, int]:
    """The safetensors header (tensor name -> dtype, shape, data_offsets) and the data area's start."""
    size = path.stat().st_size
    with path.open("rb") as handle:
        prefix = handle.read(8)
        if len(prefix) < 8:
            raise ValueError(f"only {size} bytes, too short for a safetensors file")
        (length,) = struct.unpack("<Q", prefix)
        if length > min(size - 8, MAX_HEADER):
            raise ValueError(f"header length {length} does not fit in the file's {size} bytes")
        header = json.loads(handle.read(length).decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("the header is not a JSON object")
    header.pop("__metadata__", None)
    return header, 8 + length


def check_shard(path: Path, expected: set[str], report: Report) -> tuple[int, int, set[str]]:
    """Check one safetensors file; return (parameters, bytes, dtypes), zeros when it is broken."""
    try:
        header, data_start = read_header(path)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        report.defect(f"{path.name}: unreadable header ({exc}); {FIX}")
        return 0, 0, set()
    parameters, data_end, dtypes, problems = 0, 0, set(), []
    for name, info in header.items():
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (KeyError, TypeError, ValueError):
            problems.append(f"tensor {name} has a malformed entry")
            continue
        count = 1
        for dim in shape:
            count *= dim
        width = DTYPE_BYTES.get(dtype)
        if width is not None and end - begin != count * width:
            problems.append(f"tensor {name}: {end - begin} bytes for {count} values of {dtype}")
        parameters += count
        data_end = max(data_end, end)
        dtypes.add(dtype)
    size = path.stat().st_size
    if size < data_start + data_end:
        problems.append(f"truncated: {size} bytes, the header needs {data_start + data_end}; {FIX}")
    elif size > data_start + data_end:
        problems.append(f"{size - data_start - data_end} bytes more than the header describes")
    if not header:
        problems.append(f"lists no tensors, so it holds no weights; {FIX}")
    missing = sorted(expected - set(header))
    if missing:
        problems.append(f"lacks {len(missing)} tensor(s) the index puts in it, e.g. {missing[0]}")
    if problems:
        for problem in problems:
            report.defect(f"{path.name}: {problem}")
        return 0, 0, set()
    report.ok(f"{path.name}: {len(header)} tensors, {human(size)}")
    return parameters, size, dtypes


def read_index(index_path: Path, report: Report) -> dict[str, set[str]] | None:
    """Shard name -> tensor names of a *.index.json, or None (reported) when it is damaged or empty."""
    index = read_json(index_path, report)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        what = "an empty weight_map" if isinstance(weight_map, dict) else "no weight_map"
        report.defect(f"{index_path.name}: {what}, so it names no weight files; {FIX}")
        return None
    expected: dict[str, set[str]] = {}
    for tensor, shard in weight_map.items():
        expected.setdefault(str(shard), set()).add(tensor)
    report.ok(f"{index_path.name}: {len(weight_map)} tensors in {len(expected)} files")
    return expected


def bin_problem(path: Path) -> tuple[str | None, str]:
    """(defect or None, how the file was checked) for a PyTorch .bin file, without unpickling it."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
                if not any(n == "data.pkl" or n.endswith("/data.pkl") for n in names):
                    return "a zip archive without data.pkl, not a PyTorch file", ""
                bad = archive.testzip()  # reads every member and compares its CRC-32
            if bad is not None:
                return f"damaged: {bad} inside it does not match its checksum", ""
            return None, f"zip archive, {len(names)} members, checksums match"
        with path.open("rb") as handle:
            start = handle.read(len(LEGACY_TORCH_MAGIC))
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        return f"damaged: cannot be read as a zip archive ({exc})", ""
    if start == LEGACY_TORCH_MAGIC:
        return None, "PyTorch's pre-1.6 format: only its first bytes checked"
    return ("neither a complete zip archive (as torch.save writes) nor PyTorch's older format: "
            "damaged, cut short or not a PyTorch file"), ""


def check_bin_weights(folder: Path, report: Report) -> tuple[int, int, set[str]]:
    """PyTorch .bin weights: present, and a complete torch.save archive (checked without unpickling)."""
    index_path = folder / "pytorch_model.bin.index.json"
    if index_path.is_file():
        expected = read_index(index_path, report)
        if expected is None:
            return 0, 0, set()
        names = sorted(expected)
    else:
        names = ["pytorch_model.bin"]
    size, complete = 0, True
    for name in names:
        path = folder / name
        if not path.is_file():
            report.defect(f"{name}: missing; {FIX}")
            complete = False
        elif path.stat().st_size < 1024:
            report.defect(f"{name}: only {path.stat().st_size} bytes, too small for model weights; {FIX}")
            complete = False
        else:
            problem, how = bin_problem(path)
            if problem:
                report.defect(f"{name}: {problem}; {FIX}")
                complete = False
            else:
                report.ok(f"{name}: {human(path.stat().st_size)} (PyTorch .bin, {how}; not unpickled)")
                size += path.stat().st_size
    return (0, size, {"bin"}) if complete else (0, 0, set())


def check_weights(folder: Path, report: Report) -> tuple[int, int, set[str]]:
    index_path = folder / "model.safetensors.index.json"
    expected: dict[str, set[str]] = {}
    if index_path.is_file():
        found = read_index(index_path, report)
        if found is None:
            return 0, 0, set()
        expected = found
    elif (folder / "model.safetensors").is_file():
        expected["model.safetensors"] = set()
    elif (folder / "pytorch_model.bin.index.json").is_file() or (folder / "pytorch_model.bin").is_file():
        return check_bin_weights(folder, report)
    else:
        others = sorted(p.name for p in folder.glob("*.bin")) or ["none"]
        report.defect("weights: no model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
                      f"pytorch_model.bin.index.json (other .bin files: {', '.join(others)})")
        return 0, 0, set()
    parameters, size, dtypes, complete = 0, 0, set(), True
    for shard in sorted(expected):
        path = folder / shard
        if not path.is_file():
            report.defect(f"{shard}: missing (the index puts {len(expected[shard])} tensors in it); {FIX}")
            complete = False
            continue
        p, s, d = check_shard(path, expected[shard], report)
        complete = complete and s > 0
        parameters, size, dtypes = parameters + p, size + s, dtypes | d
    if complete and index_path.is_file():
        declared = (read_json(index_path, report) or {}).get("metadata", {}).get("total_parameters")
        if declared is not None and declared != parameters:
            report.defect(f"{index_path.name}: declares {declared} parameters, the files hold {parameters}")
    return parameters, size, dtypes


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] in {"-h", "--help"}:
        print(__doc__.strip())
        sys.exit(0 if len(sys.argv) == 2 else 2)
    folder = Path(sys.argv[1]).expanduser()
    if not folder.is_dir():
        print(f"Error: {folder} is not a folder: give the --local-dir of your download", file=sys.stderr)
        sys.exit(2)
    print(f"Checking {folder}")
    report = Report()
    check_config(folder, report)
    check_tokenizer(folder, report)
    unfinished = sorted(p.name for p in folder.rglob("*.incomplete"))
    if unfinished:
        report.defect(f"unfinished download: {', '.join(unfinished)}; {FIX}")
    parameters, size, dtypes = check_weights(folder, report)
    if report.defects:
        print(f"FAILED: {len(report.defects)} defect(s) in {folder}", file=sys.stderr)
        for defect in report.defects:
            print(f"  - {defect}", file=sys.stderr)
        models = sorted(p.parent.name for p in folder.glob("*/config.json"))
        if models and not (folder / "config.json").is_file():
            shown = ", ".join(str(folder / name) for name in models[:5])
            print(f"Did you mean {shown}? {folder} holds no model itself, but "
                  f"{'these subfolders look' if len(models) > 1 else 'this subfolder looks'} like one.",
                  file=sys.stderr)
        sys.exit(2)
    if dtypes == {"bin"}:
        print("Parameters: not counted (PyTorch .bin files are not unpickled)")
        print(f"Weights: {human(size)} on disk, PyTorch .bin format")
    else:
        print(f"Parameters: {parameters:,} ({human(parameters, unit='')})")
        print(f"Weights: {human(size)} on disk, dtype {', '.join(sorted(dtypes))}")
    print("OK: the model folder is complete")


if __name__ == "__main__":
    main()
