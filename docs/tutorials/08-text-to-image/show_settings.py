"""Print the settings stored in PNG files made by generate.py, and the command that makes each image again.

    python show_settings.py outputs/*.png
    python show_settings.py --json outputs/one.png     # machine-readable
"""

import argparse
import json
import sys
from pathlib import Path

from PIL import Image


def read(path: Path) -> dict:
    with Image.open(path) as image:
        text = dict(getattr(image, "text", {}) or {})
        size = image.size
    if "parameters" not in text:
        raise ValueError("no 'parameters' text chunk: this PNG was not made by generate.py, or an editor "
                         "removed its metadata")
    return {"file": str(path), "width": size[0], "height": size[1],
            "parameters": json.loads(text["parameters"]), "reproduce": text.get("reproduce", ""),
            "software": text.get("Software", "")}


def main() -> int:
    p = argparse.ArgumentParser(description="Show the settings saved in images made by generate.py.")
    p.add_argument("images", nargs="+", help="PNG files written by generate.py")
    p.add_argument("--json", action="store_true", help="print one JSON object per image")
    args = p.parse_args()
    status = 0
    for name in args.images:
        path = Path(name)
        try:
            info = read(path)
        except FileNotFoundError:
            print(f"Error: {path} does not exist.", file=sys.stderr)
            status = 2
            continue
        except (OSError, ValueError) as exc:
            print(f"Error: {path}: {exc}", file=sys.stderr)
            status = 2
            continue
        if args.json:
            print(json.dumps(info, ensure_ascii=False))
            continue
        print(f"{path}  ({info['width']}x{info['height']})")
        for key, value in info["parameters"].items():
            print(f"  {key:16} {value}")
        print(f"  to make it again: {info['reproduce']}")
    return status


if __name__ == "__main__":
    sys.exit(main())
