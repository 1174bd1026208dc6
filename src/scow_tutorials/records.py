"""GPU run records (``docs/tutorials/NN-slug/gpu-record.json``, written by ``make verify-gpu``): which files a
record vouches for, and whether they have changed since. The card (``tutorials.py``), ``tools/verify_gpu.py`` and
``tests/test_gpu_records.py`` share these definitions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

RECORD = "gpu-record.json"
# What a run depends on: scripts, configs, requirements and data files (not images or pages).
HASHED_SUFFIXES = {".py", ".sh", ".yaml", ".yml", ".txt", ".json"}
REQUIRED_KEYS = {"schema", "date", "command", "hardware", "versions", "files", "tests"}


def hashed_files(folder: Path) -> dict[str, str]:
    """SHA-256 of every file a tutorial publishes that a run depends on."""
    out = {}
    for path in sorted(folder.rglob("*")):
        if (
            path.is_file()
            and path.suffix in HASHED_SUFFIXES
            and path.name != RECORD
            and "__pycache__" not in path.parts
        ):
            out[path.relative_to(folder).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def read_record(path: Path) -> dict:
    """A record, checked for the keys ``make verify-gpu`` writes; ValueError names what is wrong."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON record ({exc})") from None
    missing = REQUIRED_KEYS - set(record) if isinstance(record, dict) else REQUIRED_KEYS
    if missing:
        raise ValueError(f"{path}: not a record written by make verify-gpu (missing {', '.join(sorted(missing))})")
    return record


def stale_files(folder: Path, record: dict) -> list[str]:
    """Files whose content differs from the record's hashes (changed, added or removed since the run)."""
    now, then = hashed_files(folder), record.get("files", {})
    return sorted(name for name in set(now) | set(then) if now.get(name) != then.get(name))
