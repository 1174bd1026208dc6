"""Check a Python environment for the SCOW AI tutorials (Tutorial 0).

Prints which Python runs, whether it runs inside a conda environment, the torch / torchvision
versions, the CUDA version torch was built for and the GPUs it can see. Then it compares the
installed versions with the exact pins (name==version) of requirements.txt and exits with
status 1 when a package is missing or has another version.

    python check_env.py                      # compare with requirements.txt next to this file
    python check_env.py --requirements FILE  # compare with another file
    python check_env.py --no-compare         # only report (e.g. inside a ready-made image)
    python check_env.py --require-gpu        # also fail when no GPU is usable (run on a GPU node)

Every GPU that torch lists is tested by running a small matrix product on it and comparing the result
with the CPU's: a GPU can be listed and still have no kernels in the installed torch build ("no kernel
image is available for execution on the device"), and only running one proves that it works.

No GPU is needed: on a login node it reports that no GPU is visible, which is expected there.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path

PIN_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;]+)\s*(?:;.*)?$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Report the Python / PyTorch / GPU environment and compare it with requirements.txt.",
    )
    parser.add_argument(
        "--requirements",
        type=Path,
        default=Path(__file__).resolve().with_name("requirements.txt"),
        help="requirements file with exact pins (default: requirements.txt next to this script)",
    )
    parser.add_argument(
        "--no-compare",
        action="store_true",
        help="only print the report; do not compare with the requirements file",
    )
    parser.add_argument(
        "--require-gpu",
        action="store_true",
        help="exit with status 1 when torch cannot use a GPU (use it on a GPU node)",
    )
    return parser.parse_args(argv)


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def read_pins(path: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Return the (name, version) pins of a requirements file and the lines that are not pins."""
    pins, skipped = [], []
    # utf-8-sig: a file saved by Windows Notepad starts with a byte order mark (U+FEFF); read as plain UTF-8 it
    # would stick to the first name ("\ufefftorch"), which no installed package has.
    for raw in path.read_text(encoding="utf-8-sig").splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#") or line.startswith("-"):
            continue  # blank lines, comments, options such as --index-url
        match = PIN_RE.match(line)
        if match:
            pins.append((match.group(1), match.group(2)))
        else:
            skipped.append(line)
    return pins, skipped


def version_matches(pinned: str, installed: str) -> bool:
    """'==2.14.1' also accepts '2.14.1+cu126' (a local build label), as pip does."""
    if "+" not in pinned:
        installed = installed.split("+", 1)[0]
    return pinned == installed


def driver_cuda_version() -> str | None:
    """The highest CUDA version the NVIDIA driver supports ('CUDA Version' in nvidia-smi), if any."""
    exe = shutil.which("nvidia-smi")
    if not exe:
        return None
    try:
        out = subprocess.run([exe], capture_output=True, text=True, timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"CUDA Version:\s*([0-9]+\.[0-9]+)", out)
    return match.group(1) if match else None


def as_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:2])


def kernel_check(torch, index: int) -> str | None:
    """Multiply two small matrices on GPU ``index`` and on the CPU; return a problem, or None when they agree."""
    generator = torch.Generator().manual_seed(index)
    a = torch.randn(256, 256, generator=generator)
    b = torch.randn(256, 256, generator=generator)
    expected = a @ b
    try:
        device = torch.device("cuda", index)
        got = (a.to(device) @ b.to(device)).to("cpu")
        torch.cuda.synchronize(device)
    except RuntimeError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"GPU {index}: a matrix product failed: {first_line}"
    if not torch.allclose(got, expected, rtol=1e-3, atol=1e-3):
        worst = (got - expected).abs().max().item()
        return f"GPU {index}: a matrix product gave wrong results (largest difference from the CPU: {worst:.3g})"
    return None


def report(require_gpu: bool) -> list[str]:
    """Print the environment report; return the problems that must fail the check."""
    problems: list[str] = []
    print(f"Python         : {sys.version.split()[0]} ({sys.executable})")
    conda_env = os.environ.get("CONDA_DEFAULT_ENV")
    if conda_env:
        print(f"Conda env      : {conda_env}")
    else:
        print("Conda env      : none (CONDA_DEFAULT_ENV is not set)")

    try:
        import torch
    except ImportError as exc:
        print(f"torch          : not importable ({exc})")
        if require_gpu:
            problems.append("torch is not importable, so no GPU can be used")
        return problems

    try:
        import torchvision

        tv_version = torchvision.__version__
    except ImportError as exc:
        tv_version = f"not importable ({exc})"
    print(f"torch          : {torch.__version__}")
    print(f"torchvision    : {tv_version}")
    built_cuda = torch.version.cuda
    print(f"torch CUDA     : {built_cuda or 'none (a CPU-only build)'}")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        available = torch.cuda.is_available()
        count = torch.cuda.device_count() if available else 0
    print(f"CUDA available : {available}")
    print(f"GPU count      : {count}")
    arch_list = torch.cuda.get_arch_list() if available else []
    for index in range(count):
        major, minor = torch.cuda.get_device_capability(index)
        arch = f"sm_{major}{minor}"
        print(f"  GPU {index}        : {torch.cuda.get_device_name(index)} ({arch})")
        problem = kernel_check(torch, index)
        if problem is None:
            print(f"  GPU {index} test   : OK (a matrix product on the GPU matches the CPU)")
            continue
        print(f"  GPU {index} test   : FAILED: {problem.split(': ', 1)[1]}")
        problems.append(problem)
        if arch_list and arch not in arch_list:
            print(f"NOTE: this torch build has GPU code for {', '.join(arch_list)}, not for this GPU's {arch}.\n"
                  "      Install a build that supports it (see 'Choose the PyTorch build' in Tutorial 0).")
    for warning in caught:
        print(f"CUDA warning   : {str(warning.message).strip()}")

    driver = driver_cuda_version()
    if driver:
        print(f"Driver CUDA    : {driver} (the highest CUDA version the NVIDIA driver supports)")
    if driver and built_cuda and as_tuple(built_cuda) > as_tuple(driver):
        print(
            f"NOTE: this torch was built for CUDA {built_cuda}, newer than the driver's CUDA {driver}.\n"
            "      Install a torch build for CUDA <= the driver's version (see 'CUDA version' in Tutorial 0)."
        )

    if not available:
        if driver:
            print("The NVIDIA driver is there, but torch cannot use a GPU: read the CUDA warning/NOTE above.")
        else:
            print("No GPU visible: expected on a login node; run this on a GPU node to check the GPUs.")
        if require_gpu:
            problems.append("--require-gpu was given but torch cannot use a GPU (CUDA available: False)")
    return problems


def compare(path: Path) -> list[str]:
    """Compare installed versions with the pins of ``path``; return the problems."""
    try:
        pins, skipped = read_pins(path)
    except UnicodeDecodeError:
        return [f"{path} is not UTF-8 text (perhaps saved as UTF-16 by an editor): save it as UTF-8, "
                "or download requirements.txt again"]
    print(f"\nComparing with {path}:")
    problems = []
    for line in skipped:
        print(f"  skipped        : {line} (only exact '==' pins are checked)")
    for name, pinned in pins:
        installed = installed_version(name)
        label = f"{name}=={pinned}"
        if installed is None:
            print(f"  MISSING        : {label} (not installed)")
            problems.append(f"{name} is not installed; {path.name} pins {pinned}")
        elif version_matches(pinned, installed):
            print(f"  OK             : {label} (installed {installed})")
        else:
            print(f"  MISMATCH       : {label} (installed {installed})")
            problems.append(f"{name}: {path.name} pins {pinned}, but {installed} is installed")
    if not pins:
        problems.append(f"{path} has no 'name==version' lines to check")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    problems = report(args.require_gpu)
    pin_problems: list[str] = []
    if not args.no_compare and not args.requirements.is_file():
        problems.append(
            f"requirements file not found: {args.requirements} "
            "(download it next to check_env.py, pass --requirements FILE, or use --no-compare)"
        )
    elif not args.no_compare:
        pin_problems = compare(args.requirements)
    problems += pin_problems
    print()
    if problems:
        print("CHECK FAILED:")
        for problem in problems:
            print(f"  - {problem}")
        if pin_problems:
            print(
                "Fix: activate the right environment (conda activate <env>), then\n"
                f"     pip install -r {args.requirements}"
            )
        return 1
    print("ENVIRONMENT OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
