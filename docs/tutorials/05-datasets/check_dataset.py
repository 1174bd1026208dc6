"""Check a LLaMA-Factory dataset folder before training starts, and say what to fix in plain words.

    python check_dataset.py DATASET_DIR [CONFIG.yaml] [key=value ...] [--quiet]

DATASET_DIR is the folder that holds dataset_info.json (in a SCOW AI app: "$SCOW_AI_DATASET_PATH").
The dataset names come from the `dataset:` line of CONFIG.yaml; a `dataset=...` argument overrides it and a
`dataset_dir=...` argument overrides DATASET_DIR, as they do for llamafactory-cli. Without either, every dataset
in dataset_info.json is checked.

For each dataset it checks what LLaMA-Factory will read: the entry in dataset_info.json, its data file (or the
folder of data files that "file_name" names) and, for JSON data, that the records have the keys the entry's
format and "columns" ask for. It prints one line per dataset (unless --quiet) and exits 0; on the first problem it
prints "error: ..." and exits 2. Standard library only: it runs with any Python 3.8+, in the image or on a login
node.
"""

from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path

INFO = "dataset_info.json"
# The file types LLaMA-Factory 0.9 loads from a folder (llamafactory.extras.constants.FILEEXT2TYPE).
FILE_TYPES = {"arrow": "arrow", "csv": "csv", "json": "json", "jsonl": "json", "parquet": "parquet", "txt": "text"}
HUB_KEYS = ("hf_hub_url", "ms_hub_url", "om_hub_url")
SOURCE_KEYS = ("file_name", *HUB_KEYS, "script_url", "cloud_file_name")
# Which record key each column of an entry reads, by format, when the entry has no "columns" (LLaMA-Factory's
# DatasetAttr defaults). With "columns", a column it does not name is not read at all.
DEFAULT_COLUMNS = {
    "alpaca": {"prompt": "instruction", "query": "input", "response": "output"},
    "sharegpt": {"messages": "conversations"},
    "openai": {"messages": "conversations"},
}
COLUMN_NAMES = ("prompt", "query", "response", "history", "messages", "system", "tools",
                "images", "videos", "audios", "chosen", "rejected", "kto_tag")


class Problem(Exception):
    """A problem the reader can fix; its text is the whole message."""


def where(path: Path, text: str, pos: int) -> str:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return f"{path}, line {line}, column {column}"


def read_text(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        raise Problem(f"{path}: the file starts with a byte-order mark (BOM), which LLaMA-Factory cannot read: "
                      "save it as UTF-8 without BOM (in VSCode: Save with Encoding -> UTF-8)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = data[:exc.start].decode("utf-8", "replace")
        raise Problem(f"{where(path, text, len(text))}: the file is not UTF-8 (byte 0x{data[exc.start]:02x}); "
                      "save it as UTF-8 (in VSCode: the encoding in the status bar -> Save with Encoding -> UTF-8)"
                      ) from None


def json_hint(message: str) -> str:
    if message.startswith("Expecting ',' delimiter"):
        return "a comma is missing before this place (between two entries or two records)"
    if message.startswith(("Expecting property name", "Expecting value")):
        return ("a comma too many just before this place (none after the last item), or a value that is "
                "missing; keys and texts need straight double quotes \" \"")
    if message.startswith("Invalid control character"):
        return "a line break or tab inside a text: write it as \\n or \\t"
    if message.startswith("Extra data"):
        return "something follows the end of the JSON value: a bracket too many, or two values in one file"
    return "check the brackets, commas and straight double quotes around this place"


def load_json(path: Path):
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Problem(f"{where(path, text, exc.pos)}: not valid JSON ({exc.msg}): {json_hint(exc.msg)}") from None


def load_records(path: Path) -> list:
    """The records of a .json file (a JSON array, or JSON Lines) or a .jsonl file, as the datasets library reads
    them."""
    text = read_text(path)
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if exc.msg != "Extra data":
                raise Problem(f"{where(path, text, exc.pos)}: not valid JSON ({exc.msg}): "
                              f"{json_hint(exc.msg)}") from None
        else:
            if isinstance(data, list):
                return data
            raise Problem(f"{path}: holds a JSON {type(data).__name__}, not a list of records: put the records "
                          "in one array, [ {...}, {...} ]")
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise Problem(f"{path}, line {number}, column {exc.colno}: not a JSON record ({exc.msg}): "
                              "a JSON Lines file has one whole record {...} per line") from None
    return records


def dataset_names(config: Path | None, args: list[str]) -> list[str] | None:
    """The names llamafactory-cli will read: the last dataset=... argument, else the config's `dataset:`."""
    given = [a.split("=", 1)[1] for a in args if a.startswith("dataset=")]
    if given:
        value = given[-1]
    elif config is not None:
        value = config_dataset(config)
        if value is None:
            return None
    else:
        return None
    if isinstance(value, list):
        return [str(v).strip() for v in value]
    return [item.strip() for item in str(value).split(",")]  # as LLaMA-Factory splits it: spaces allowed


def config_dataset(config: Path):
    if not config.is_file():
        raise Problem(f"{config} not found: give the training config (the .yaml next to this script)")
    text = read_text(config)
    try:
        import yaml  # in every LLaMA-Factory environment; the fallback below reads the plain `dataset: a,b` line
    except ImportError:
        match = re.search(r"^dataset:[ \t]*(.*?)[ \t]*(?:#.*)?$", text, re.M)
        return match.group(1).strip("'\"") if match else None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Problem(f"{config}: not valid YAML: {exc}") from None
    return data.get("dataset") if isinstance(data, dict) else None


def source_key_problem(info: Path, name: str, entry: dict) -> str:
    keys = list(entry)
    guess = [k for k in keys if re.sub(r"[^a-z]", "", k.lower()) in ("filename", "filenames", "file", "path")]
    guess = guess or difflib.get_close_matches("file_name", keys, n=1, cutoff=0.6)
    if guess:
        return (f"{info}: the entry {name!r} has {guess[0]!r} where LLaMA-Factory reads \"file_name\": "
                f"rename the key to \"file_name\"")
    return (f"{info}: the entry {name!r} names no data file (it has {', '.join(map(repr, keys)) or 'no keys'}): "
            "add \"file_name\": \"<the data file's name>\"")


def columns_of(info: Path, name: str, entry: dict, formatting: str) -> dict[str, str]:
    """The record keys LLaMA-Factory will read for this entry (column -> key)."""
    columns = entry.get("columns")
    if columns is None:
        used = dict(DEFAULT_COLUMNS[formatting])
    elif not isinstance(columns, dict):
        raise Problem(f"{info}: \"columns\" of {name!r} must be an object such as "
                      "{\"prompt\": \"instruction\", \"query\": \"input\", \"response\": \"output\"}")
    else:
        unknown = [c for c in columns if c not in COLUMN_NAMES]
        if unknown:
            raise Problem(f"{info}: \"columns\" of {name!r} has {unknown[0]!r}, which LLaMA-Factory does not "
                          f"read: the columns are {', '.join(COLUMN_NAMES)}")
        used = {c: columns[c] for c in COLUMN_NAMES if columns.get(c)}
    for column in (("response",) if entry.get("ranking") else ("chosen", "rejected")):
        used.pop(column, None)
    return used


def check_records(info: Path, name: str, entry: dict, formatting: str, files: list[Path]) -> int:
    used = columns_of(info, name, entry, formatting)
    count = 0
    for path in files:
        if FILE_TYPES[path.suffix[1:]] != "json":
            continue  # csv, parquet, arrow, txt: LLaMA-Factory's loader reads them; not checked here
        records = load_records(path)
        bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
        if bad is not None:
            raise Problem(f"{path}: record {bad + 1} is a JSON {type(records[bad]).__name__}, not an object {{...}}")
        keys = set().union(*records) if records else set()
        for column, key in used.items():
            if records and key not in keys:
                mapping = ", ".join(f"\"{c}\": \"{k}\"" for c, k in used.items())
                raise Problem(
                    f"{path}: no record has the key {key!r}, which {name!r} reads as its {column!r} column "
                    f"(format {formatting}; the records have {', '.join(map(repr, sorted(keys)))}): rename the "
                    f"records' keys, or map them in {info} under \"columns\" (now {{{mapping}}})")
        count += len(records)
        if formatting in ("sharegpt", "openai"):
            key = used.get("messages")
            bad = next((i for i, r in enumerate(records) if not isinstance(r.get(key), list)), None)
            if key and bad is not None:
                raise Problem(f"{path}: record {bad + 1} has no list under {key!r}: a {formatting} record holds "
                              "its turns as a list")
    return count


def check_dataset(folder: Path, info: dict, name: str) -> str:
    if not name:
        raise Problem("an empty dataset name (two commas in a row, or a comma at the end): write dataset=a,b")
    if name not in info:
        close = difflib.get_close_matches(name, list(info), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise Problem(f"dataset {name!r} is not in {folder / INFO} (it lists {', '.join(info) or 'nothing'}): "
                      f"{hint}attach Tutorial 5's dataset, or give its name with dataset=NAME")
    entry, path = info[name], folder / INFO
    if not isinstance(entry, dict):
        raise Problem(f"{path}: the entry {name!r} must be an object {{\"file_name\": ..., ...}}")
    formatting = entry.get("formatting", "alpaca")
    if formatting not in DEFAULT_COLUMNS:
        raise Problem(f"{path}: \"formatting\" of {name!r} is {formatting!r}: LLaMA-Factory knows "
                      f"{', '.join(DEFAULT_COLUMNS)}")
    source = next((k for k in SOURCE_KEYS if k in entry), None)
    if source is None:
        raise Problem(source_key_problem(path, name, entry))
    if source != "file_name":
        where_from = "a hub" if source in HUB_KEYS else "a script" if source == "script_url" else "cloud storage"
        return f"dataset {name}: read from {where_from} ({source}: {entry[source]}), not checked here"
    target = folder / str(entry["file_name"])
    if target.is_dir():
        files = sorted(p for p in target.iterdir())
        if not files:
            raise Problem(f"{target} is an empty folder: \"file_name\" of {name!r} names it, so it must hold the "
                          "data files")
    elif target.is_file():
        files = [target]
    else:
        present = sorted(p.name for p in folder.iterdir() if p.name != INFO)
        close = difflib.get_close_matches(target.name, present, n=1, cutoff=0.5)
        hint = (f"the folder has {close[0]!r}: rename it to {target.name!r}" if close else
                f"the folder holds {', '.join(present) or 'no data file'}: the data file must be in the folder "
                "registered with dataset_info.json, under exactly this name")
        raise Problem(f"{target} not found (\"file_name\" of {name!r}): {hint}")
    kinds = {FILE_TYPES.get(p.suffix[1:]) for p in files}
    if None in kinds:
        odd = next(p for p in files if p.suffix[1:] not in FILE_TYPES)
        raise Problem(f"{odd}: LLaMA-Factory reads only .{', .'.join(FILE_TYPES)} files"
                      + (f" (and reads every file in {target})" if target.is_dir() else ""))
    if len(kinds) > 1:
        raise Problem(f"{target} mixes file types ({', '.join(sorted(p.name for p in files))}): LLaMA-Factory "
                      "loads a folder only when all its files have one type")
    count = check_records(path, name, entry, formatting, files)
    shown = target.name + ("/" if target.is_dir() else "")
    if "json" in kinds:
        if count == 0:
            raise Problem(f"{shown} of {name!r} holds no records")
        return f"dataset {name}: {shown}, {count} records ({formatting})"
    return f"dataset {name}: {shown} ({formatting}; records not checked for this file type)"


def main(argv: list[str]) -> int:
    quiet = "--quiet" in argv
    argv = [a for a in argv if a != "--quiet"]
    if not argv or argv[0].startswith("-"):
        print(__doc__.split("\n\n")[1].strip(), file=sys.stderr)
        return 2
    folder = Path(argv[0])
    rest = argv[1:]
    config = Path(rest.pop(0)) if rest and "=" not in rest[0] else None
    dirs = [a.split("=", 1)[1] for a in rest if a.startswith("dataset_dir=")]
    if dirs:
        folder = Path(dirs[-1])
    try:
        if not folder.is_dir():
            hint = (": it holds several paths joined by ':' (more than one dataset attached): attach one dataset"
                    if ":" in str(folder) else "")
            raise Problem(f"dataset folder {folder} not found{hint}")
        if not (folder / INFO).is_file():
            raise Problem(f"{folder / INFO} not found: attach the dataset of Tutorial 5 (the folder that holds "
                          f"{INFO} and the data file)")
        info = load_json(folder / INFO)
        if not isinstance(info, dict):
            raise Problem(f"{folder / INFO}: must be one object {{\"name\": {{...}}, ...}}, not a JSON "
                          f"{type(info).__name__}")
        names = dataset_names(config, rest)
        for name in names if names is not None else list(info):
            line = check_dataset(folder, info, name)
            if not quiet:
                print(line)
    except Problem as problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
