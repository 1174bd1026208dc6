"""Train ResNet18 on CIFAR-10 with DistributedDataParallel (DDP), one process per GPU.

Start it with torchrun, which starts the processes and tells each one its rank:

    torchrun --standalone --nproc_per_node=2 train_ddp.py --data data

--nproc_per_node is the number of GPUs to use (1, 2, ...). --batch-size is the GLOBAL batch: each process
takes batch-size / processes images per step, so runs on 1 and 2 GPUs do the same training and only the
speed differs. The learning rate follows the linear scaling rule: 0.1 for a global batch of 512.

The processes train on the GPUs and talk through NCCL. When PyTorch sees no GPU, or sees one its build has no
code for (a GPU older or newer than the build's architectures: "no kernel image is available"), the script stops
with exit code 2 and says what to check (Tutorial 0's check_env.py --require-gpu); it trains on the CPU, through
the gloo backend, only when asked: --device cpu (or TRAIN_DEVICE=cpu), slow, but it shows that the script works.
--check-data reads every CIFAR-10 file and runs one small operation on each GPU, so job.sh stops at once, before
torchrun, when a file is damaged or the GPUs cannot run PyTorch's code.
Only rank 0 prints and saves the model. Any error stops every process with a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import sys
import time
import traceback
from pathlib import Path

BATCHES = "cifar-10-batches-py"
TRAIN_FILES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_FILE = "test_batch"
META_FILE = "batches.meta"
BASE_LR, BASE_BATCH = 0.1, 512
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
DOWNLOAD = "python download_cifar10.py --root {root}"
CHECK_GPU = "python check_env.py --require-gpu"


def fail(message: str, every_rank: bool = False) -> None:
    """Print a clear error (once, from rank 0, unless each rank has its own) and stop with exit code 2."""
    rank = os.environ.get("RANK", "0")
    if every_rank and "LOCAL_RANK" in os.environ:
        print(f"Error (rank {rank}): {message}", file=sys.stderr, flush=True)
    elif rank == "0":
        print(f"Error: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=os.environ.get("CIFAR10_ROOT", "data"),
                        help=f"folder that holds {BATCHES}/ (default: $CIFAR10_ROOT or ./data)")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=512,
                        help="global batch size, split evenly over the processes (default 512)")
    parser.add_argument("--lr", type=float, default=None,
                        help=f"learning rate (default: {BASE_LR} x batch-size / {BASE_BATCH})")
    parser.add_argument("--workers", type=int, default=None,
                        help="data loader worker processes per GPU (default: from the CPUs you were given)")
    parser.add_argument("--out", default="resnet18_cifar10.pt", help="where rank 0 saves the model")
    parser.add_argument("--device", choices=["cuda", "cpu"], default=os.environ.get("TRAIN_DEVICE", "cuda"),
                        help="cuda: the GPUs, NCCL (default, or $TRAIN_DEVICE); cpu: the CPU, gloo (slow, "
                             "only to try the script without GPUs)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check-data", action="store_true",
                        help="only check that the CIFAR-10 files are complete and the device can run PyTorch's "
                             "code, then exit (no torchrun needed)")
    args = parser.parse_args()
    if args.device not in ("cuda", "cpu"):
        fail(f"--device (or TRAIN_DEVICE) must be cuda or cpu, not {args.device!r}")
    return args


def load_batches(folder: Path, names: list[str]):
    """Read CIFAR-10 python batches: uint8 images (N, 3, 32, 32) and int64 labels."""
    import numpy as np
    import torch

    images, labels = [], []
    for name in names:
        try:
            with open(folder / name, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
            data = entry["data"]
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
            fail(f"{folder / name} is damaged ({exc.__class__.__name__}): delete {folder} and download it again "
                 f"with {DOWNLOAD.format(root=folder.parent)}")
        images.append(np.asarray(data, dtype=np.uint8).reshape(-1, 3, 32, 32))
        labels.extend(entry["labels"])
    return torch.from_numpy(np.concatenate(images)), torch.tensor(labels, dtype=torch.int64)


def verify_files(folder: Path) -> int:
    """Read every CIFAR-10 file as training will (--check-data): a damaged or cut-short file stops here, with the
    download command, instead of after torchrun has started. Returns the number of training images."""
    redo = f"delete {folder} and download it again with {DOWNLOAD.format(root=folder.parent)}"
    train = 0
    for name in TRAIN_FILES + [TEST_FILE, META_FILE]:
        try:
            with open(folder / name, "rb") as f:
                entry = pickle.load(f, encoding="latin1")
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, IndexError, KeyError,
                TypeError, ValueError) as exc:
            fail(f"{folder / name} is damaged ({exc.__class__.__name__}): {redo}")
        if name == META_FILE:
            if not isinstance(entry, dict) or len(entry.get("label_names") or []) != 10:
                fail(f"{folder / name} does not name the 10 CIFAR-10 classes: {redo}")
            continue
        data = entry.get("data") if isinstance(entry, dict) else None
        labels = entry.get("labels") if isinstance(entry, dict) else None
        shape = getattr(data, "shape", None)
        if labels is None or shape is None or tuple(shape) != (len(labels), 3 * 32 * 32):
            fail(f"{folder / name} does not hold 32x32 colour images with one label each "
                 f"(data shape {shape}, {'no' if labels is None else len(labels)} labels): {redo}")
        if name != TEST_FILE:
            train += len(labels)
    return train


def check_data(root: Path) -> Path:
    folder = root / BATCHES
    missing = [n for n in TRAIN_FILES + [TEST_FILE, META_FILE] if not (folder / n).is_file()]
    if missing:
        what = f"{folder} does not exist" if not folder.is_dir() else \
            f"{folder} lacks {', '.join(missing)}"
        fail(f"CIFAR-10 not found: {what}.\n"
             f"Download it first on the login/data node (compute nodes have no internet):\n"
             f"    {DOWNLOAD.format(root=root)}\n"
             f"or pass the folder that holds {BATCHES}/ with --data.")
    return folder


class Images:
    """A dataset of uint8 image tensors; training images get a random crop and a horizontal flip."""

    def __init__(self, images, labels, train: bool):
        import torch
        from torchvision.transforms import v2

        self.images, self.labels = images, labels
        steps = [v2.RandomCrop(32, padding=4), v2.RandomHorizontalFlip()] if train else []
        self.transform = v2.Compose(steps + [v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)])

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        return self.transform(self.images[i]), self.labels[i]


def default_workers(local_processes: int) -> int:
    """Loader workers per process: the CPUs this job may use, shared by the processes, one left for each."""
    cpus = len(os.sched_getaffinity(0))
    return max(0, min(4, cpus // local_processes - 1))


def gpus_of_this_job() -> str | None:
    """The GPUs the scheduler gave this job or app, as it lists them; None when it lists none."""
    for name in ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_GPUS", "SLURM_GPUS_ON_NODE"):
        value = os.environ.get(name, "").strip()
        if value and value not in ("-1", "NoDevFiles"):
            return f"{name}={value}"
    return None


def runs_on(arch_list: list[str], capability: tuple[int, int]) -> bool:
    """Whether a PyTorch build with these architectures (torch.cuda.get_arch_list(): sm_80, sm_90a, compute_90 ...)
    has code a GPU of this compute capability can run. A GPU runs machine code (sm_XY) built for its own major
    version and the same or a lower minor one, except code for one exact GPU (sm_90a); PTX (compute_XY) is
    compiled for the GPU when loaded, so it runs on that capability and every later one."""
    for arch in arch_list:
        found = re.fullmatch(r"(sm|compute)_(\d+)(\d)([a-z]?)", arch)
        if not found:
            continue
        kind, major, minor, suffix = found.group(1), int(found.group(2)), int(found.group(3)), found.group(4)
        if suffix == "a":
            if (major, minor) == capability:
                return True
        elif kind == "sm" and major == capability[0] and minor <= capability[1]:
            return True
        elif kind == "compute" and (major, minor) <= capability:
            return True
    return False


def check_kernels(torch, gpus: list[int]) -> None:
    """Stop with exit code 2 when a visible GPU cannot run this PyTorch build's code: compare its compute
    capability with the build's architectures, then run one small operation on it (a GPU the build has no code
    for fails only here, or mid-training, with "no kernel image is available")."""
    arch_list = torch.cuda.get_arch_list()
    build = f"PyTorch {torch.__version__} (CUDA {torch.version.cuda})"
    fix = (f"Install the PyTorch build that fits this GPU and driver (Tutorial 0, step 3, choose the build), "
           f"then check on this node with\n    {CHECK_GPU}\n"
           "or use a partition with GPUs this build supports.")
    for index in gpus:
        major, minor = torch.cuda.get_device_capability(index)
        name = torch.cuda.get_device_name(index)
        gpu = f"GPU {index} ({name}, compute capability {major}.{minor}, sm_{major}{minor})"
        if arch_list and not runs_on(arch_list, (major, minor)):
            fail(f"{gpu} is visible, but {build} has GPU code only for {', '.join(arch_list)}: training would "
                 f"stop with 'no kernel image is available'.\n" + fix, every_rank=True)
        try:
            probe = torch.ones(4).to(torch.device("cuda", index))
            value = float((probe * 2).sum().item())
        except Exception as exc:  # noqa: BLE001 - any failure of the GPU's first operation is reported alike
            first = (str(exc).strip().splitlines() or [""])[0]
            fail(f"{gpu}: a first small operation failed with {exc.__class__.__name__}: {first}\n" + fix,
                 every_rank=True)
        if value != 8.0:
            fail(f"{gpu}: a first small operation gave {value} instead of 8.0; the GPU or its driver is faulty: "
                 f"tell the cluster's administrators.", every_rank=True)


def check_device(device: str, local_world: int = 1, gpu: int | None = None) -> bool:
    """True for CUDA; stops with exit code 2 when the GPUs cannot be used (CPU only when asked). Runs a first
    operation on GPU `gpu` (a training process's own), or on every visible GPU when it is None (--check-data)."""
    import torch

    if device == "cpu":
        return False
    if not torch.cuda.is_available():
        given = gpus_of_this_job()
        if given:
            why = (f"this job was given GPUs ({given}) but PyTorch {torch.__version__} sees none: the conda "
                   f"environment is not the one from Tutorial 0, or its PyTorch build does not fit this node's "
                   f"driver.\nCheck it on this node, in this environment, with Tutorial 0's script:\n"
                   f"    {CHECK_GPU}\n")
        else:
            why = ("PyTorch sees no GPU and none was given to this job or app: request GPUs (单节点GPU卡数, "
                   "GPU Cards per Node, in the app form; a GPU partition and --gres=gpu:N in job.sh), then check them with "
                   f"nvidia-smi and Tutorial 0's {CHECK_GPU}.\n")
        fail(why + "To train on the CPU on purpose (slow), pass --device cpu (in job.sh: TRAIN_DEVICE=cpu).")
    if torch.cuda.device_count() < local_world:
        fail(f"torchrun started {local_world} processes on this node but only "
             f"{torch.cuda.device_count()} GPU(s) are visible: set --nproc_per_node to the number of "
             f"GPUs you requested (nvidia-smi lists them)")
    check_kernels(torch, list(range(torch.cuda.device_count())) if gpu is None else [gpu])
    return True


def main() -> None:
    args = parse_args()
    # Check the inputs before importing PyTorch (which takes a while): a wrong path fails at once.
    folder = check_data(Path(args.data).expanduser())
    if args.check_data:
        images = verify_files(folder)
        print(f"CIFAR-10 files found in {folder}: all 7 readable, {images} training images")
        use_cuda = check_device(args.device)
        if use_cuda:
            import torch

            print(f"Device check: CUDA, {torch.cuda.device_count()} GPU(s) ran a first operation", flush=True)
        else:
            print("Device check: CPU, as asked with --device cpu", flush=True)
        return
    if "LOCAL_RANK" not in os.environ:
        fail("start this script with torchrun, for example:\n"
             "    torchrun --standalone --nproc_per_node=2 train_ddp.py --data data\n"
             "(--nproc_per_node = number of GPUs; use 1 for a single GPU)")
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ["LOCAL_RANK"])
    world = int(os.environ["WORLD_SIZE"])
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
    if args.epochs < 1:
        fail("--epochs must be at least 1")
    if args.batch_size % world:
        fail(f"--batch-size {args.batch_size} cannot be split evenly over {world} processes")
    per_gpu = args.batch_size // world
    lr = args.lr if args.lr is not None else BASE_LR * args.batch_size / BASE_BATCH

    import torch
    import torch.distributed as dist
    import torch.nn.functional as F
    from torch.nn.parallel import DistributedDataParallel as DDP
    from torch.utils.data import DataLoader, Subset
    from torch.utils.data.distributed import DistributedSampler
    from torchvision.models import resnet18

    use_cuda = check_device(args.device, local_world, gpu=local_rank)
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device, backend = torch.device("cuda", local_rank), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, device_id=device if use_cuda else None)
    main_proc = rank == 0

    def say(text: str) -> None:
        if main_proc:
            print(text, flush=True)

    name = torch.cuda.get_device_name(device) if use_cuda else "CPU"
    say(f"Device: {device.type} ({name}), {world} process(es), backend {backend}")
    say(f"Global batch {args.batch_size} = {world} x {per_gpu} per process; "
        f"lr {lr:g} (linear scaling: {BASE_LR} x {args.batch_size} / {BASE_BATCH})")

    train_x, train_y = load_batches(folder, TRAIN_FILES)
    test_x, test_y = load_batches(folder, [TEST_FILE])
    workers = args.workers if args.workers is not None else default_workers(local_world)
    say(f"Data: {len(train_y)} training and {len(test_y)} test images from {folder}; "
        f"{workers} loader worker(s) per process")

    train_set = Images(train_x, train_y, train=True)
    # Each process evaluates every world-th test image: no image is counted twice.
    test_set = Subset(Images(test_x, test_y, train=False), range(rank, len(test_y), world))
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader_opts = dict(num_workers=workers, pin_memory=use_cuda, persistent_workers=workers > 0)
    train_loader = DataLoader(train_set, batch_size=per_gpu, sampler=sampler, **loader_opts)
    test_loader = DataLoader(test_set, batch_size=per_gpu, **loader_opts)

    torch.manual_seed(args.seed)
    model = DDP(resnet18(num_classes=10).to(device), device_ids=[local_rank] if use_cuda else None)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-4)

    def sync() -> None:
        if use_cuda:
            torch.cuda.synchronize(device)

    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        sampler.set_epoch(epoch)  # a different shuffle every epoch, the same on every process
        model.train()
        wait = compute = 0.0
        totals = torch.zeros(2, device=device)  # sum of losses, number of images
        epoch_start = tick = time.perf_counter()
        for images, labels in train_loader:
            got = time.perf_counter()
            wait += got - tick
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # DDP averages the gradients of all processes here
            optimizer.step()
            totals += torch.stack([loss.detach() * len(labels), torch.tensor(len(labels), device=device)])
            sync()
            tick = time.perf_counter()
            compute += tick - got
        train_seconds = time.perf_counter() - epoch_start

        model.eval()
        counts = torch.zeros(2, device=device)  # correct, seen
        with torch.no_grad():
            for images, labels in test_loader:
                images, labels = images.to(device), labels.to(device)
                # model.module is the plain ResNet18 inside DDP: the DDP wrapper may synchronise buffers
                # between processes on each call, which every process must then join.
                pred = model.module(images).argmax(dim=1)
                counts += torch.stack([(pred == labels).sum(), torch.tensor(len(labels), device=device)])
        timing = torch.tensor([wait, compute, train_seconds], device=device)
        for t in (totals, counts):
            dist.all_reduce(t)
        dist.all_reduce(timing, op=dist.ReduceOp.MAX)  # the slowest process sets the pace
        loss_avg = (totals[0] / totals[1]).item()
        accuracy = (counts[0] / counts[1]).item()
        wait, compute, train_seconds = timing.tolist()
        say(f"epoch {epoch}/{args.epochs}  loss {loss_avg:.4f}  test acc {accuracy:.4f}  "
            f"data wait {wait:.1f} s  compute {compute:.1f} s  "
            f"{int(totals[1].item()) / train_seconds:.0f} img/s ({world} process(es))")
        if main_proc:
            out = Path(args.out)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.name + ".tmp")
            torch.save({"model": model.module.state_dict(), "epoch": epoch, "test_acc": accuracy}, tmp)
            tmp.replace(out)

    say(f"Saved model to {args.out}")
    say(f"Done: {args.epochs} epochs in {time.perf_counter() - start:.1f} s, final test acc {accuracy:.4f}")
    dist.destroy_process_group()


def run() -> None:
    """main(), with any error turned into one clear line per process and exit code 2 (torchrun reports it)."""
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - every error ends the same, clear way
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        rank = os.environ.get("RANK", "0")
        print(f"Error (rank {rank}): {exc.__class__.__name__}: {exc}\n"
              f"    at {Path(frame.filename).name} line {frame.lineno} ({frame.name}); this process stops "
              f"with exit code 2, and torchrun then stops the others", file=sys.stderr, flush=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
