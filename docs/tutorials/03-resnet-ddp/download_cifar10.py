"""Download CIFAR-10 (python version) and check it, on a node that has internet access.

    python download_cifar10.py --root data

Fetches cifar-10-python.tar.gz (about 170 MB) from the dataset's home page, checks its MD5 against the
value torchvision uses, unpacks it into ROOT/cifar-10-batches-py/ and checks the MD5 of every file in it.
Run it again at any time: a complete, verified folder is left as it is, and an archive that is already
there and intact is not downloaded a second time. Uses only the Python standard library.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
ARCHIVE = "cifar-10-python.tar.gz"
ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
BATCHES = "cifar-10-batches-py"
# The same checksums as torchvision.datasets.CIFAR10.
FILES_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
    "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
}


def fail(message: str) -> None:
    print(f"Error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bad_files(folder: Path) -> list[str]:
    """Files of the extracted folder that are missing or differ from CIFAR-10's."""
    return [name for name, want in FILES_MD5.items()
            if not (folder / name).is_file() or md5(folder / name) != want]


def download(url: str, target: Path) -> None:
    part = target.with_name(target.name + ".part")
    print(f"Downloading {url}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
            size = int(response.headers.get("Content-Length") or 0)
            done, shown = 0, -1
            while block := response.read(1 << 20):
                out.write(block)
                done += len(block)
                if size and done * 10 // size > shown:
                    shown = done * 10 // size
                    print(f"  {done / 1e6:.0f} / {size / 1e6:.0f} MB", flush=True)
    except (urllib.error.URLError, OSError) as exc:
        part.unlink(missing_ok=True)
        fail(f"could not download {url}: {exc}\n"
             "Run this script on the login/data node: compute nodes usually have no internet access.")
    part.replace(target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.environ.get("CIFAR10_ROOT", "data"),
                        help=f"folder to put {BATCHES}/ in (default: $CIFAR10_ROOT or ./data)")
    parser.add_argument("--url", default=URL, help="where to download the archive from (a mirror)")
    args = parser.parse_args()

    root = Path(args.root).expanduser()
    folder = root / BATCHES
    archive = root / ARCHIVE
    if folder.is_dir():
        bad = bad_files(folder)
        if not bad:
            print(f"CIFAR-10 is already complete in {folder} (all checksums match)")
            return
        if not archive.is_file():
            fail(f"{folder} exists but these files are missing or differ from CIFAR-10: {', '.join(bad)}.\n"
                 f"Delete the folder (rm -r {folder}) and run this script again.")

    root.mkdir(parents=True, exist_ok=True)
    if archive.is_file() and md5(archive) == ARCHIVE_MD5:
        print(f"Using {archive}, downloaded before (checksum matches)")
    else:
        download(args.url, archive)
        got = md5(archive)
        if got != ARCHIVE_MD5:
            archive.unlink()
            fail(f"the downloaded {ARCHIVE} is damaged or not CIFAR-10: MD5 {got}, expected {ARCHIVE_MD5}.\n"
                 "It has been deleted; run this script again.")
        print(f"Checksum OK: MD5 {got}")

    print(f"Unpacking into {root}", flush=True)
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")
    bad = bad_files(folder)
    if bad:
        fail(f"after unpacking, these files are missing or differ from CIFAR-10: {', '.join(bad)}")
    print(f"CIFAR-10 is ready in {folder}: 50000 training and 10000 test images")
    print(f"You can delete {archive} now to save space.")


if __name__ == "__main__":
    main()
