"""Check the TileLang attention kernel against PyTorch, then time it against PyTorch's naive attention and SDPA.

    python bench.py                      # on a GPU node: fp16, sequence lengths 512 to 8192
    python bench.py --causal --dtype bfloat16
    python bench.py --device cpu --seq-lens 128 256 --heads 2   # no GPU: checks this script and the tiled
                                                                # algorithm (in PyTorch) on the CPU

Exit code 0: every output matched the float32 reference; 1: a check failed; 2: a problem to fix first
(no GPU, unsupported GPU, unsupported shape, a sequence length whose float32 reference does not fit in memory).
"""

import argparse
import statistics
import sys
import time
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

import attention
from attention import AttentionError

# torch.testing.assert_close tolerances against the float32 reference. fp16 keeps 11 significant bits
# (relative rounding 2^-11 ≈ 0.0005), bf16 only 8 (2^-8 ≈ 0.004); the kernel also rounds the softmax
# probabilities to that type before the second matrix product, so the bounds leave room for both.
TOLERANCES = {
    torch.float16: {"atol": 1e-2, "rtol": 1e-2},
    torch.bfloat16: {"atol": 2e-2, "rtol": 2e-2},
}


def attention_flops(batch, heads, seq_len, head_dim, causal=False):
    """Floating-point operations of one attention forward pass.

    Q Kᵀ and P V are each seq_len × seq_len × head_dim multiply-adds per head (2 flops each):
    2 · 2 · N² · D per head, 4 · B · H · N² · D in all. A causal mask skips about half of the work.
    The softmax's exponentials are not counted, by convention."""
    flops = 4 * batch * heads * seq_len * seq_len * head_dim
    return flops // 2 if causal else flops


def tflops(flops, ms):
    """Throughput in TFLOPS (10^12 floating-point operations per second) for a run of `ms` milliseconds."""
    return flops / (ms * 1e-3) / 1e12


# SDPA's backends, in the order bench.py tries them: the first one that accepts the inputs is timed.
SDPA_BACKENDS = [SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                 SDPBackend.MATH]


class CpuTimer:
    """Wall-clock time of one call on the CPU, in milliseconds."""

    def start(self):
        self.started = time.perf_counter()

    def stop(self):
        return (time.perf_counter() - self.started) * 1e3


class CudaTimer:
    """GPU time of one call, in milliseconds, from two CUDA events recorded around it on the current stream.

    Kernel launches return at once; the events are timestamps the GPU itself writes when it reaches them, so
    the interval covers exactly the queued work, and end.synchronize() waits until it is done."""

    def start(self):
        self.begin = torch.cuda.Event(enable_timing=True)
        self.end = torch.cuda.Event(enable_timing=True)
        self.begin.record()

    def stop(self):
        self.end.record()
        self.end.synchronize()
        return self.begin.elapsed_time(self.end)


def l2_flusher(device="cuda"):
    """A function that overwrites a buffer twice the GPU's L2 cache, and the buffer's size in bytes.

    Called before every timed call, it evicts the previous call's Q, K, V and output from L2, so each call
    reads its inputs from GPU memory as it would inside a model (H100's 50 MB L2 holds a whole small case)."""
    size = 2 * torch.cuda.get_device_properties(device).L2_cache_size
    buffer = torch.empty(size, dtype=torch.int8, device=device)
    return (lambda: buffer.fill_(1)), size


def measure_ms(fn, warmup=10, reps=50, timer=None, flush=lambda: None):
    """Median milliseconds of `reps` timed calls of fn(), after `warmup` untimed ones.

    timer: CudaTimer on a GPU, CpuTimer (the default) on the CPU; flush() runs before each timed call, outside
    the timed interval (l2_flusher on a GPU). The median is not moved by a few calls slowed by something else."""
    timer = timer or CpuTimer()
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(reps):
        flush()
        timer.start()
        fn()
        samples.append(timer.stop())
    return statistics.median(samples)


def pick_sdpa(q, k, v, causal):
    """(backend name, fn) for the first of SDPA_BACKENDS that runs these inputs; fn calls SDPA restricted to it.

    Letting SDPA choose would also work, but then the table could not say which implementation was timed."""
    for backend in SDPA_BACKENDS:
        def fn(backend=backend):
            with sdpa_kernel([backend]):
                return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
        try:
            with warnings.catch_warnings():  # the backends that do not apply say why, as warnings
                warnings.simplefilter("ignore")
                fn()
        except RuntimeError:
            continue
        return backend.name, fn
    raise AttentionError("no SDPA backend runs these inputs")  # MATH runs everything: not expected


def check_close(out, ref, dtype):
    """Compare with torch.testing.assert_close; return the largest absolute difference (raises AssertionError)."""
    torch.testing.assert_close(out, ref, **TOLERANCES[dtype])
    return (out.float() - ref.float()).abs().max().item()


def random_inputs(batch, heads, seq_len, head_dim, dtype, device, seed=0):
    generator = torch.Generator(device=device).manual_seed(seed)
    shape = (batch, heads, seq_len, head_dim)
    return [torch.randn(shape, dtype=dtype, device=device, generator=generator) for _ in range(3)]


def format_table(rows, names):
    """rows: [{"seq_len": N, "ms": {name: ms or None}, "tflops": {name: x or None}}]; names[-1] is the kernel.

    The last two columns say how many times faster the kernel is than each PyTorch version (>1: faster)."""
    kernel = names[-1]
    header = f"{'seq_len':>8}"
    for name in names:
        header += f" {name + ' ms':>12} {'TFLOPS':>7}"
    for name in names[:-1]:
        header += f" {'vs ' + name:>9}"
    lines = [header, "-" * len(header)]
    for row in rows:
        line = f"{row['seq_len']:>8}"
        for name in names:
            ms = row["ms"].get(name)
            if ms is None:
                line += f" {row['note'].get(name, '-'):>12} {'-':>7}"
            else:
                line += f" {ms:>12.3f} {row['tflops'][name]:>7.3g}"
        for name in names[:-1]:
            ms, own = row["ms"].get(name), row["ms"].get(kernel)
            line += f" {'-':>9}" if ms is None or own is None else f" {ms / own:>8.2f}x"
        lines.append(line)
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seq-lens", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--head-dim", type=int, default=128, choices=attention.HEAD_DIMS)
    parser.add_argument("--dtype", choices=list(attention.DTYPES), default="float16")
    parser.add_argument("--causal", action="store_true", help="mask future keys (decoder-style attention)")
    parser.add_argument("--warmup", type=int, help="untimed calls first (default: 10 on a GPU, 1 on the CPU)")
    parser.add_argument("--reps", type=int, help="timed calls, their median is shown (default: 50 on a GPU, "
                        "3 on the CPU)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="cpu: no GPU needed; times the tiled PyTorch version instead of the TileLang kernel")
    attention.add_tile_options(parser)
    args = parser.parse_args(argv)
    on_gpu = args.device == "cuda"
    args.warmup = args.warmup if args.warmup is not None else (10 if on_gpu else 1)
    args.reps = args.reps if args.reps is not None else (50 if on_gpu else 3)
    return args


def main(argv=None):
    args = parse_args(argv)
    dtype = attention.DTYPES[args.dtype]
    if args.warmup < 0 or args.reps < 1:
        raise AttentionError(f"--warmup {args.warmup} --reps {args.reps}: need --warmup 0 or more and --reps 1 "
                             f"or more")
    for n in args.seq_lens:
        attention.check_shape(args.batch, args.heads, n, args.head_dim, args.block_m, args.block_n, args.threads)

    if args.device == "cuda":
        if not torch.cuda.is_available():
            raise AttentionError(
                "no CUDA GPU is visible (torch.cuda.is_available() is False). Run bench.py in a VSCode app or "
                "job that holds a GPU (单节点加速卡卡数 at least 1) and check that nvidia-smi lists it; to test "
                "the script without a GPU, run: python bench.py --device cpu --seq-lens 128 256 --heads 2")
        major, minor = torch.cuda.get_device_capability()
        arch = attention.target_for_capability(major, minor)
        cuda = attention.use_pip_cuda()
        import tilelang
        print(f"GPU: {torch.cuda.get_device_name()} (compute capability {major}.{minor}, target {arch})")
        print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), tilelang {tilelang.__version__}, "
              f"nvcc {cuda / 'bin' / 'nvcc' if cuda else 'from CUDA_HOME or PATH'}")
        timer, (flush, flush_bytes) = CudaTimer(), l2_flusher()
        stages = attention.pipeline_stages(arch, args.causal, args.num_stages)
        timing = (f"CUDA events, median of {args.reps} calls after {args.warmup} warm-up calls; L2 flushed "
                  f"before each (writes {flush_bytes / 2**20:.0f} MiB)")
        kernel_name = "tilelang"
    else:
        print("Device: cpu (no GPU: the TileLang kernel is replaced by the same tiled algorithm in PyTorch)")
        print(f"torch {torch.__version__}")
        timer, flush = CpuTimer(), (lambda: None)
        stages = args.num_stages  # the tiled PyTorch version has no pipeline; the kernel's setting is shown
        timing = f"time.perf_counter, median of {args.reps} calls after {args.warmup} warm-up calls"
        kernel_name = "tiled"
    print(f"Shape: batch {args.batch}, heads {args.heads}, head_dim {args.head_dim}, {args.dtype}, "
          f"causal {args.causal}; tiles {args.block_m}x{args.block_n}, {stages} stage{'s' if stages != 1 else ''}, "
          f"{args.threads} threads")
    print(f"Timing: {timing}")
    print(f"Check: torch.testing.assert_close against a float32 reference, "
          f"atol {TOLERANCES[dtype]['atol']}, rtol {TOLERANCES[dtype]['rtol']}")

    names = ["naive", "sdpa", kernel_name]
    rows, failed, unchecked = [], False, []
    for n in args.seq_lens:
        q, k, v = random_inputs(args.batch, args.heads, n, args.head_dim, dtype, args.device)
        row = {"seq_len": n, "ms": {}, "tflops": {}, "note": {}}
        try:
            ref = attention.reference_attention(q, k, v, args.causal)
        except torch.OutOfMemoryError:
            # The reference keeps B·H·N² float32 scores (and their softmax): 8 bytes per score at least.
            need = 8 * args.batch * args.heads * n * n / 2**30
            print(f"seq_len {n}: NOT CHECKED: the float32 reference ran out of {args.device} memory (it needs "
                  f"about {need:.2g} GiB); use shorter --seq-lens or a smaller --batch or --heads")
            unchecked.append(n)
            row["note"] = {name: "no ref" for name in names}
            rows.append(row)
            del q, k, v
            torch.cuda.empty_cache()
            continue
        backend, sdpa = pick_sdpa(q, k, v, args.causal)
        print(f"seq_len {n}: sdpa backend {backend}")
        impls = {
            "naive": lambda: attention.naive_attention(q, k, v, args.causal),
            "sdpa": sdpa,
        }
        if args.device == "cuda":
            started = time.perf_counter()
            kernel = attention.build_kernel(args.batch, args.heads, n, args.head_dim, args.causal, args.dtype,
                                            arch, args.block_m, args.block_n, args.num_stages, args.threads)
            print(f"seq_len {n}: kernel ready in {time.perf_counter() - started:.1f} s")
            impls["tilelang"] = lambda: kernel(q, k, v)
        else:
            impls["tiled"] = lambda: attention.tiled_attention(q, k, v, args.causal, args.block_m, args.block_n)

        checks = []
        for name in names:
            try:
                error = check_close(impls[name](), ref, dtype)
                checks.append(f"{name} OK (max abs error {error:.2e})")
                ms = measure_ms(impls[name], args.warmup, args.reps, timer, flush)
            except torch.OutOfMemoryError:
                row["note"][name] = "OOM"  # the naive version keeps B·H·N² scores in GPU memory
                checks.append(f"{name} out of GPU memory")
                torch.cuda.empty_cache()
                continue
            except AssertionError as exc:
                failed = True
                row["note"][name] = "WRONG"
                checks.append(f"{name} FAILED: {exc}")
                continue
            row["ms"][name] = ms
            row["tflops"][name] = tflops(attention_flops(args.batch, args.heads, n, args.head_dim, args.causal), ms)
        print(f"seq_len {n}: " + "; ".join(checks))
        rows.append(row)
        del q, k, v, ref

    print()
    print(format_table(rows, names))
    print()
    if failed:
        print("Some outputs did NOT match the reference (see FAILED above).")
        return 1
    if unchecked:
        print(f"Not checked: seq_len {', '.join(map(str, unchecked))} (the float32 reference did not fit in "
              f"memory, see NOT CHECKED above). The other outputs match the reference.")
        return 2
    print(f"All outputs match the reference. TFLOPS = 4*B*H*N^2*D{'/2' if args.causal else ''} / time.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AttentionError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
