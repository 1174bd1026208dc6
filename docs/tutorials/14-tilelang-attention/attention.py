"""Attention three ways: plain PyTorch, the tiled online-softmax algorithm in PyTorch, and a fused TileLang kernel.

Tensors have the layout [batch, heads, seq_len, head_dim], as torch.nn.functional.scaled_dot_product_attention.

    python attention.py --arch sm_90a   # compile the kernel for H100/H200 (no GPU needed) and save its CUDA source
    python attention.py --arch sm_80    # the same for A100/A800

bench.py imports this file to check the kernel against PyTorch and to time it on a GPU.
"""

import argparse
import importlib.util
import math
import os
import sys
from pathlib import Path

import torch

HEAD_DIMS = (64, 128)  # the head sizes this kernel handles (those of most LLMs)
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}

# Default tiles: 64 query rows per thread block, 64 keys per loop step, 2 copies of each K/V tile in
# flight (1 for the causal kernel on Ampere, see build_kernel), 128 threads (4 warps). With head_dim 128
# in fp16 that needs about 80 KB of shared memory (see shared_memory_bytes), which fits A100 (164 KB per
# block), H100/H200 (227 KB) and also the ~99 KB of RTX 3090 / A40 class GPUs.
BLOCK_M = 64
BLOCK_N = 64
NUM_STAGES = 2
THREADS = 128

# GPU architectures: compute capability -> the nvcc target TileLang compiles for.
# sm_90a, not plain sm_90: TMA copies exist on sm_90 too, but the warpgroup MMA (wgmma) and the register
# reallocation between warpgroups (setmaxnreg) that TileLang's Hopper code uses are "a" features.
TARGETS = {(8, 0): "sm_80", (8, 6): "sm_86", (8, 9): "sm_89", (9, 0): "sm_90a"}
GPU_NAMES = {"sm_80": "A100/A800", "sm_86": "A40/RTX 3090", "sm_89": "L40/RTX 4090", "sm_90a": "H100/H800/H200"}


class AttentionError(Exception):
    """A problem the reader can fix (wrong shape, unsupported GPU): bench.py prints it and exits with code 2."""


# --- Step 1: attention in plain PyTorch ---------------------------------------------------------------

def reference_attention(q, k, v, causal=False):
    """softmax(Q Kᵀ / sqrt(d)) V, computed in float32 and returned in the inputs' dtype.

    The whole [seq_len, seq_len] score matrix of every head is written to memory, read back by the
    softmax, written again and read by the second matrix product: memory traffic grows with seq_len²."""
    dtype = q.dtype
    q, k, v = q.float(), k.float(), v.float()
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if causal:
        n = q.shape[-2]
        future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)  # key j > query i
        scores = scores.masked_fill(future, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v).to(dtype)


def naive_attention(q, k, v, causal=False):
    """The same formula in the inputs' own dtype, as one would write it in a model: the benchmark's baseline."""
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    if causal:
        n = q.shape[-2]
        future = torch.ones(n, n, dtype=torch.bool, device=q.device).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


# --- Step 2: the same result, one tile at a time (what the kernel does, written in PyTorch) -----------

def tiled_attention(q, k, v, causal=False, block_m=BLOCK_M, block_n=BLOCK_N):
    """Flash-attention's algorithm in plain PyTorch: slow, but it runs on a CPU and mirrors the kernel line by line.

    For each tile of block_m queries, walk over the keys block_n at a time and keep, per query row, the
    running maximum m of the scores, the running sum l of exp(score - m) and the unnormalised output acc.
    When a new tile raises the maximum, the old sum and output are rescaled by exp(m_old - m_new).
    The probabilities are rounded to the inputs' dtype before the second product, as in the kernel."""
    batch, heads, seq_len, head_dim = q.shape
    check_shape(batch, heads, seq_len, head_dim, block_m, block_n)
    log2e_scale = math.log2(math.e) / math.sqrt(head_dim)  # exp(x / sqrt(d)) == 2 ** (x * log2e_scale)
    out = torch.empty_like(q)
    for start in range(0, seq_len, block_m):
        q_tile = q[:, :, start:start + block_m].float()
        m = torch.full((batch, heads, block_m), float("-inf"))
        l = torch.zeros(batch, heads, block_m)
        acc = torch.zeros(batch, heads, block_m, head_dim)
        rows = torch.arange(start, start + block_m)
        for kt in range(key_tiles(start // block_m, seq_len, causal, block_m, block_n)):
            k_tile = k[:, :, kt * block_n:(kt + 1) * block_n].float()
            v_tile = v[:, :, kt * block_n:(kt + 1) * block_n]
            s = q_tile @ k_tile.transpose(-2, -1)
            if causal:
                cols = torch.arange(kt * block_n, (kt + 1) * block_n)
                s = s.masked_fill(cols[None, :] > rows[:, None], float("-inf"))
            m_new = torch.maximum(m, s.amax(dim=-1))
            correction = torch.exp2((m - m_new) * log2e_scale)
            p = torch.exp2((s - m_new[..., None]) * log2e_scale)
            l = l * correction + p.sum(dim=-1)
            acc = acc * correction[..., None] + p.to(q.dtype).float() @ v_tile.float()
            m = m_new
        out[:, :, start:start + block_m] = (acc / l[..., None]).to(q.dtype)
    return out


def key_tiles(q_block, seq_len, causal, block_m=BLOCK_M, block_n=BLOCK_N):
    """How many key tiles query tile number q_block visits: all of them, or (causal) those up to its last row."""
    if causal:
        return -(-((q_block + 1) * block_m) // block_n)  # ceil division
    return seq_len // block_n


# --- Checks shared by all three --------------------------------------------------------------------

def check_shape(batch, heads, seq_len, head_dim, block_m=BLOCK_M, block_n=BLOCK_N, threads=THREADS):
    """Raise AttentionError, naming the fix, for shapes and tiles the kernel does not handle."""
    for name, value in (("batch", batch), ("heads", heads), ("seq_len", seq_len)):
        if value < 1:
            raise AttentionError(f"{name} must be at least 1, got {value}")
    if head_dim not in HEAD_DIMS:
        raise AttentionError(f"head_dim {head_dim} is not supported: this kernel handles head_dim "
                             f"{' or '.join(map(str, HEAD_DIMS))}")
    for name, block in (("block_m", block_m), ("block_n", block_n)):
        if block < 16 or block % 16:
            raise AttentionError(f"{name} must be a multiple of 16, got {block}")
    if threads < 32 or threads % 32 or threads > 1024:
        raise AttentionError(f"threads must be a multiple of 32 (whole warps) up to 1024, got {threads}")
    # The row-wise softmax needs every warp to own whole rows of 16 (T.GemmWarpPolicy.FullRow): threads/32
    # warps × 16 rows. Smaller query tiles pass TileLang's front end, then its compiler stops ("No valid
    # warp partition for T.gemm", "Layout infer conflict": block_m 16 or 32 with 128 threads, sm_80 and sm_90a).
    rows = 16 * (threads // 32)
    if block_m % rows:
        raise AttentionError(f"block_m {block_m} is too small or uneven for {threads} threads: each of the "
                             f"{threads // 32} warps takes 16 whole query rows, so block_m must be a multiple "
                             f"of {rows} (for example --block-m {rows})")
    for name, block in (("block_m", block_m), ("block_n", block_n)):
        if seq_len % block:
            raise AttentionError(f"seq_len {seq_len} is not a multiple of {name} {block}: pad the sequence "
                                 f"to a multiple of {block} (and mask the padding), or choose a block size "
                                 f"that divides seq_len")


def target_for_capability(major, minor):
    """The nvcc target for a GPU's compute capability, or AttentionError for GPUs this kernel cannot use."""
    if major < 8:
        raise AttentionError(
            f"this GPU has compute capability {major}.{minor}; the kernel needs 8.0 or newer "
            f"(Ampere such as A100, or Hopper such as H100). V100 (7.0) and T4 (7.5) lack the bf16 tensor "
            f"cores and asynchronous copies it uses, and CUDA 13 no longer compiles for 7.0 at all: "
            f"create the app on a partition with A100/A800 or H100/H800/H200 GPUs")
    if (major, minor) in TARGETS:
        return TARGETS[(major, minor)]
    raise AttentionError(
        f"compute capability {major}.{minor} is not one this tutorial was written for "
        f"({', '.join(f'{a}.{b}' for a, b in TARGETS)}); try --arch sm_{major}{minor} with "
        f"attention.py to see whether TileLang compiles for it")


def check_arch(arch):
    """Accept an nvcc target name for a GPU this kernel can use, or raise AttentionError."""
    digits = arch[3:].rstrip("a") if arch.startswith("sm_") else ""
    if not digits.isdigit() or len(digits) < 2:
        raise AttentionError(f"--arch {arch}: expected an nvcc target such as sm_90a or sm_80")
    if arch == "sm_90":
        raise AttentionError("--arch sm_90: use sm_90a for H100/H800/H200 (TileLang's Hopper code needs the "
                             "'a' features wgmma and setmaxnreg; TMA alone would work on sm_90)")
    major, minor = int(digits[:-1]), int(digits[-1])
    if major < 8:
        target_for_capability(major, minor)  # raises: too old for this kernel
    return arch


def shared_memory_bytes(head_dim, dtype=torch.float16, block_m=BLOCK_M, block_n=BLOCK_N, num_stages=NUM_STAGES):
    """Shared memory one thread block uses, roughly: a Q tile plus num_stages copies of a K and a V tile."""
    size = torch.empty((), dtype=dtype).element_size()
    return (block_m * head_dim + 2 * num_stages * block_n * head_dim) * size


# --- Step 3: the fused TileLang kernel ---------------------------------------------------------------

def use_pip_cuda():
    """Point TileLang at the CUDA 13.0 compiler installed from requirements.txt (nvidia-cuda-nvcc).

    Without this, TileLang would take the first nvcc on PATH (a cluster's CUDA module, maybe another
    release). Returns the CUDA folder used, or None when the pip packages are absent (TileLang then
    searches CUDA_HOME, PATH and /usr/local/cuda itself)."""
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        cuda = Path(root) / "cu13"
        if (cuda / "bin" / "nvcc").exists():
            os.environ["CUDA_HOME"] = str(cuda)
            os.environ["PATH"] = f"{cuda / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
            return cuda
    return None


def attention_program(batch, heads, seq_len, head_dim, causal=False, dtype="float16",
                      block_m=BLOCK_M, block_n=BLOCK_N, num_stages=NUM_STAGES, threads=THREADS):
    """The TileLang program (a TIR PrimFunc) of the fused forward pass, for one fixed shape."""
    import tilelang.language as T

    check_shape(batch, heads, seq_len, head_dim, block_m, block_n, threads)
    if dtype not in DTYPES:
        raise AttentionError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype}")
    shape = [batch, heads, seq_len, head_dim]
    accum = "float32"
    log2e_scale = math.log2(math.e) / math.sqrt(head_dim)

    @T.prim_func
    def attention(Q: T.Tensor(shape, dtype), K: T.Tensor(shape, dtype), V: T.Tensor(shape, dtype),
                  O: T.Tensor(shape, dtype)):
        # One thread block per (tile of block_m queries, head, batch element).
        with T.Kernel(seq_len // block_m, heads, batch, threads=threads) as (qb, h, b):
            # Tiles of Q, K and V in shared memory (on-chip, shared by the block's threads).
            q_tile = T.alloc_shared([block_m, head_dim], dtype)
            k_tile = T.alloc_shared([block_n, head_dim], dtype)
            v_tile = T.alloc_shared([block_n, head_dim], dtype)
            # Fragments live in the threads' registers.
            s = T.alloc_fragment([block_m, block_n], accum)        # scores of this key tile
            p = T.alloc_fragment([block_m, block_n], dtype)        # probabilities, rounded for the tensor cores
            acc = T.alloc_fragment([block_m, head_dim], accum)     # unnormalised output
            m = T.alloc_fragment([block_m], accum)                 # running row maximum
            m_old = T.alloc_fragment([block_m], accum)
            correction = T.alloc_fragment([block_m], accum)
            l = T.alloc_fragment([block_m], accum)                 # running row sum of exp
            l_tile = T.alloc_fragment([block_m], accum)

            T.copy(Q[b, h, qb * block_m:(qb + 1) * block_m, :], q_tile)
            T.clear(acc)
            T.clear(l)
            T.fill(m, -T.infinity(accum))

            if causal:
                n_tiles = T.ceildiv((qb + 1) * block_m, block_n)  # keys after the tile's last query are masked
            else:
                n_tiles = seq_len // block_n

            # T.Pipelined overlaps the copy of the next K/V tiles with the maths on the current ones.
            for kt in T.Pipelined(n_tiles, num_stages=num_stages):
                T.copy(K[b, h, kt * block_n:(kt + 1) * block_n, :], k_tile)
                T.copy(V[b, h, kt * block_n:(kt + 1) * block_n, :], v_tile)

                T.clear(s)
                T.gemm(q_tile, k_tile, s, transpose_B=True, policy=T.GemmWarpPolicy.FullRow)  # S = Q Kᵀ
                if causal:
                    for i, j in T.Parallel(block_m, block_n):
                        s[i, j] = T.if_then_else(qb * block_m + i >= kt * block_n + j, s[i, j],
                                                 -T.infinity(accum))

                # Online softmax: new maximum, rescale what was accumulated so far, add this tile.
                T.copy(m, m_old)
                T.reduce_max(s, m, dim=1, clear=False)  # m = max(m_old, row max of s)
                for i in T.Parallel(block_m):
                    correction[i] = T.exp2((m_old[i] - m[i]) * log2e_scale)
                for i, j in T.Parallel(block_m, block_n):
                    s[i, j] = T.exp2((s[i, j] - m[i]) * log2e_scale)
                T.reduce_sum(s, l_tile, dim=1)
                for i in T.Parallel(block_m):
                    l[i] = l[i] * correction[i] + l_tile[i]
                for i, j in T.Parallel(block_m, head_dim):
                    acc[i, j] *= correction[i]
                T.copy(s, p)
                T.gemm(p, v_tile, acc, policy=T.GemmWarpPolicy.FullRow)  # acc += P V

            for i, j in T.Parallel(block_m, head_dim):
                acc[i, j] /= l[i]
            T.copy(acc, O[b, h, qb * block_m:(qb + 1) * block_m, :])

    return attention


def build_kernel(batch, heads, seq_len, head_dim, causal=False, dtype="float16", arch=None,
                 block_m=BLOCK_M, block_n=BLOCK_N, num_stages=NUM_STAGES, threads=THREADS):
    """Compile the kernel for one shape. arch: an nvcc target such as "sm_90a" or "sm_80"; None = this GPU's.

    Returns a TileLang JITKernel: kernel(q, k, v) returns the output tensor (out_idx=[3]: the 4th
    argument, O, is allocated by TileLang). Compiled kernels are cached in TILELANG_CACHE_DIR."""
    use_pip_cuda()
    import tilelang
    from tvm.target import Target

    if arch is None:
        if not torch.cuda.is_available():
            raise AttentionError("no CUDA GPU is visible; give --arch to compile without one")
        arch = target_for_capability(*torch.cuda.get_device_capability())
    stages = pipeline_stages(arch, causal, num_stages)
    if stages != num_stages:
        print(f"note: {arch} causal kernel built with num_stages=1 (TileLang 0.1.15 cannot pipeline its "
              f"loop on this architecture)", file=sys.stderr)
        num_stages = stages
    program = attention_program(batch, heads, seq_len, head_dim, causal, dtype, block_m, block_n, num_stages,
                                threads)
    return tilelang.compile(program, out_idx=[3], target=Target({"kind": "cuda", "arch": arch}))


def pipeline_stages(arch, causal, num_stages=NUM_STAGES):
    """The pipeline depth build_kernel really uses: 1 for the causal kernel on Ampere (sm_8x), else num_stages.

    tilelang 0.1.15 cannot pipeline a loop whose length depends on the block (the causal loop) with Ampere's
    cp.async copies: codegen stops with "Downcast from tirx.Sub to ir.IntImm failed"."""
    return 1 if causal and num_stages > 1 and arch.startswith("sm_8") else num_stages


def add_tile_options(parser):
    """The tile options attention.py and bench.py share."""
    parser.add_argument("--block-m", type=int, default=BLOCK_M, help=f"queries per thread block (default {BLOCK_M})")
    parser.add_argument("--block-n", type=int, default=BLOCK_N, help=f"keys per loop step (default {BLOCK_N})")
    parser.add_argument("--num-stages", type=int, default=NUM_STAGES,
                        help=f"K/V tiles in flight at once (default {NUM_STAGES})")
    parser.add_argument("--threads", type=int, default=THREADS, help=f"threads per block (default {THREADS})")


def main(argv=None):
    parser = argparse.ArgumentParser(description="Compile the TileLang attention kernel without running it "
                                     "(no GPU needed) and save its CUDA source.")
    parser.add_argument("--arch", action="append", required=True,
                        help="nvcc target: sm_90a (H100/H800/H200), sm_80 (A100/A800); repeat for several")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--seq-len", type=int, default=1024)
    parser.add_argument("--head-dim", type=int, default=128)
    parser.add_argument("--causal", action="store_true")
    parser.add_argument("--dtype", choices=list(DTYPES), default="float16")
    add_tile_options(parser)
    parser.add_argument("--out", default="kernels", help="folder for the CUDA sources (default: kernels)")
    args = parser.parse_args(argv)

    for arch in args.arch:
        check_arch(arch)
    check_shape(args.batch, args.heads, args.seq_len, args.head_dim, args.block_m, args.block_n, args.threads)
    cuda = use_pip_cuda()
    print(f"nvcc: {cuda / 'bin' / 'nvcc' if cuda else 'from CUDA_HOME or PATH (pip CUDA packages not found)'}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for arch in args.arch:
        kernel = build_kernel(args.batch, args.heads, args.seq_len, args.head_dim, args.causal, args.dtype, arch,
                              args.block_m, args.block_n, args.num_stages, args.threads)
        path = out / f"attention_{arch}.cu"
        path.write_text(kernel.get_kernel_source(), encoding="utf-8")
        print(f"{arch}: compiled for {GPU_NAMES.get(arch, 'this architecture')}, CUDA source saved to {path}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except AttentionError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        sys.exit(2)
