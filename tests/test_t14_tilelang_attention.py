"""Tutorial 14 (TileLang attention): the kernel compiles to CUDA for the GPUs the page names, with nvcc from the
pinned pip packages only; the reference, the tiled algorithm, the correctness check and the benchmark harness run
on CPU tensors; the clear errors (no GPU, unsupported GPU, unsupported shape) are exercised.

Running the kernel needs an NVIDIA GPU: no test here does (the card says verified.gpu: null).
"""

import json
import os
import re
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

SEARCH_PROBES = {"zh": ["TileLang", "注意力"], "en": ["TileLang", "online softmax"]}

# The compile test's small shape (compilation time hardly depends on it).
SMALL = ["--batch", "1", "--heads", "2", "--seq-len", "128", "--head-dim", "64"]


def path_without_nvcc(env_bin):
    """The test machine's PATH minus every folder holding an nvcc, with the tutorial's env first."""
    keep = [d for d in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep)
            if d and not (Path(d) / "nvcc").exists()]
    path = os.pathsep.join([str(env_bin)] + keep)
    assert shutil.which("nvcc", path=path) is None
    return path


def no_system_cuda(tutorial):
    return {"PATH": path_without_nvcc(tutorial.env / "bin"), "CUDA_HOME": "", "CUDA_PATH": ""}


def test_requirements_pin_one_cuda_compiler_release(tutorial):
    pins = dict(line.split("==") for line in (tutorial.folder / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    assert {"torch", "tilelang"} <= set(pins)  # their versions: extra.facts (torch, t14_tilelang)
    cuda = {name: version for name, version in pins.items() if name.startswith("nvidia-")}
    assert set(cuda) == {"nvidia-cuda-nvcc", "nvidia-nvvm", "nvidia-cuda-crt", "nvidia-cuda-cccl",
                         "nvidia-cuda-runtime"}
    assert all(v.startswith("13.0.") for v in cuda.values()), cuda  # mixed releases fail (FACTS.md)


def test_kernel_compiles_for_hopper_and_ampere_with_pip_nvcc(tutorial, run_script, workdir):
    result = run_script("attention.py", "--arch", "sm_90a", "--arch", "sm_80", *SMALL, "--out", "kernels",
                        env=no_system_cuda(tutorial))
    nvcc = re.search(r"^nvcc: (\S+)$", result.stdout, re.M)
    assert nvcc and nvcc.group(1).endswith("nvidia/cu13/bin/nvcc"), result.output
    assert Path(nvcc.group(1)).resolve().is_relative_to(tutorial.env.resolve())
    assert "sm_90a: compiled for H100/H800/H200" in result.stdout
    assert "sm_80: compiled for A100/A800" in result.stdout

    hopper = (workdir / "kernels" / "attention_sm_90a.cu").read_text()
    ampere = (workdir / "kernels" / "attention_sm_80.cu").read_text()
    for source in (hopper, ampere):
        assert 'extern "C" __global__' in source and "attention_kernel" in source
        assert "exp2f" in source  # the online softmax
        assert "buf_dyn_shmem" in source  # tiles in shared memory
    assert "wgmma" in hopper and "tma_load" in hopper  # Hopper: tensor-memory copies and warpgroup MMA
    assert "mma_sync" in ampere and "cp_async" in ampere  # Ampere: mma.sync and asynchronous copies

    # nvcc's output: one cubin per architecture, plus the host library TileLang loads, in TILELANG_CACHE_DIR.
    cache = run_script.home / ".cache" / "tilelang"
    cubins = list(cache.rglob("kernel.cubin"))
    assert len(cubins) == 2, sorted(str(p) for p in cache.rglob("*"))
    assert all(p.read_bytes()[:4] == b"\x7fELF" and p.stat().st_size > 10_000 for p in cubins)
    assert len(list(cache.rglob("executable.so"))) == 2
    # The shared memory the page quotes (attention.shared_memory_bytes): Q + 2 stages of K and V, fp16, d=64.
    hosts = [p.parent / "host_kernel.cu" for p in cache.rglob("device_kernel.cu")
             if "mma_sync" in p.read_text()]
    assert len(hosts) == 1
    assert "((int64_t)40960)" in hosts[0].read_text()


def test_causal_bf16_kernel_compiles_for_ampere(tutorial, run_script, workdir):
    result = run_script("attention.py", "--arch", "sm_80", "--causal", "--dtype", "bfloat16", *SMALL,
                        env=no_system_cuda(tutorial))
    assert "num_stages=1" in result.stderr  # TileLang 0.1.15 cannot pipeline the causal loop on sm_80
    source = (workdir / "kernels" / "attention_sm_80.cu").read_text()
    assert "bfloat16_t" in source and "mma_sync" in source


def test_functions_on_cpu_tensors(tutorial, run_script):
    result = run_script(str(FIXTURES / "t14_checks.py"))
    data = json.loads(result.stdout)
    # Hand count: QKᵀ and PV each take N·N·D multiply-adds per head, 2 flops each.
    assert data["flops"]["b1_h1_n2_d1"] == 2 * (2 * 2 * 1) * 2
    assert data["flops"]["b2_h16_n1024_d128"] == 17_179_869_184
    assert data["flops"]["b2_h16_n1024_d128_causal"] == 8_589_934_592
    assert data["tflops_1e12_in_1000ms"] == 1.0
    assert data["tflops_2e12_in_4ms"] == 500.0
    assert 9.5 < data["measure_ms"] < 60  # five 10 ms calls timed, warm-up excluded
    assert data["measure_calls"] == {"fn": 7, "sync": 2}

    targets = data["targets"]
    assert targets["8.0"] == {"value": "sm_80"} and targets["9.0"] == {"value": "sm_90a"}
    assert "8.0 or newer" in targets["7.0"]["error"] and "V100" in targets["7.0"]["error"]
    assert "8.0 or newer" in targets["7.5"]["error"]
    assert "--arch sm_100" in targets["10.0"]["error"]
    archs = data["archs"]
    assert archs["sm_90a"] == {"value": "sm_90a"} and archs["sm_80"] == {"value": "sm_80"}
    assert "use sm_90a" in archs["sm_90"]["error"]
    assert "8.0 or newer" in archs["sm_70"]["error"]
    assert "expected an nvcc target" in archs["x"]["error"]

    shapes = data["shapes"]
    assert shapes["ok"] == {"value": None}
    assert "head_dim 96 is not supported" in shapes["head_dim_96"]["error"]
    assert "seq_len 1000 is not a multiple of block_m 64" in shapes["seq_len_1000"]["error"]
    assert "multiple of 16" in shapes["block_n_24"]["error"]

    # (64 + 2 stages × 2 tiles × 64) rows × head_dim × 2 bytes
    assert data["shared_memory"] == {"d64_fp16": 40960, "d128_fp16": 81920, "d128_bf16_stages1": 49152}
    assert data["key_tiles"] == {"causal_first": 1, "causal_last": 4, "causal_last_bn32": 8, "full": 4}

    assert data["tolerances"] == {"float16": {"atol": 0.01, "rtol": 0.01},
                                  "bfloat16": {"atol": 0.02, "rtol": 0.02}}
    assert set(data["checks"]) == {"float16_full", "float16_causal", "bfloat16_full", "bfloat16_causal"}
    for key, check in data["checks"].items():
        assert check["dtype_kept"] and check["wrong_detected"], key
        assert 0 < check["tiled_error"] < data["tolerances"][key.split("_")[0]]["atol"], key
        if key.endswith("causal"):
            assert check["row0_is_v0"] and check["future_key_ignored"], key


def parse_table(stdout):
    """bench.py's table -> {seq_len: [numbers...]} and the header's column names."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.split()[:1] == ["seq_len"] and "TFLOPS" in line)
    header = lines[start].split()
    rows = {}
    for line in lines[start + 2:]:
        if not line.strip():
            break
        cells = line.split()
        rows[int(cells[0])] = [float(c.rstrip("x")) for c in cells[1:]]
    return header, rows


def check_row(cells, flops):
    """Cells: naive ms, TFLOPS, sdpa ms, TFLOPS, tiled ms, TFLOPS, vs naive, vs sdpa."""
    naive, naive_tf, sdpa, sdpa_tf, tiled, tiled_tf, vs_naive, vs_sdpa = cells
    for ms, tf in ((naive, naive_tf), (sdpa, sdpa_tf), (tiled, tiled_tf)):
        assert ms > 0
        assert abs(tf - flops / (ms * 1e-3) / 1e12) <= 0.01 * tf + 1e-6
    assert abs(vs_naive - naive / tiled) <= 0.01 + 0.001 * vs_naive
    assert abs(vs_sdpa - sdpa / tiled) <= 0.01 + 0.001 * vs_sdpa


def test_benchmark_harness_on_cpu(run_script):
    result = run_script("bench.py", "--device", "cpu", "--seq-lens", "64", "128", "--batch", "1", "--heads", "2",
                        "--head-dim", "64", "--warmup", "0", "--reps", "1")
    assert "Traceback" not in result.output
    assert "Device: cpu" in result.stdout
    assert "atol 0.01, rtol 0.01" in result.stdout
    assert len(re.findall(r"naive OK .*; sdpa OK .*; tiled OK", result.stdout)) == 2
    header, rows = parse_table(result.stdout)
    assert header == ["seq_len", "naive", "ms", "TFLOPS", "sdpa", "ms", "TFLOPS", "tiled", "ms", "TFLOPS",
                      "vs", "naive", "vs", "sdpa"]
    assert set(rows) == {64, 128}
    for n, cells in rows.items():
        check_row(cells, 4 * 1 * 2 * n * n * 64)  # 4·B·H·N²·D
    assert "All outputs match the reference" in result.stdout


def test_benchmark_harness_causal_bf16_on_cpu(run_script):
    result = run_script("bench.py", "--device", "cpu", "--seq-lens", "128", "--batch", "1", "--heads", "1",
                        "--head-dim", "128", "--dtype", "bfloat16", "--causal", "--warmup", "0", "--reps", "1")
    assert "atol 0.02, rtol 0.02" in result.stdout and "causal True" in result.stdout
    _, rows = parse_table(result.stdout)
    check_row(rows[128], 4 * 1 * 1 * 128 * 128 * 128 // 2)  # causal: half
    assert "4*B*H*N^2*D/2" in result.stdout


def test_no_gpu_is_a_clear_error(run_script):
    result = run_script("bench.py", check=False)  # CUDA_VISIBLE_DEVICES="" in the fixture's environment
    assert result.returncode == 2, result.output
    assert "Traceback" not in result.output
    assert "no CUDA GPU is visible" in result.stderr
    assert "nvidia-smi" in result.stderr and "--device cpu" in result.stderr


def test_unsupported_shapes_and_gpus_are_clear_errors(run_script, workdir):
    # The other cases (head_dim 96, block sizes, sm_90, compute capability 7.5) are checked function by function
    # in test_functions_on_cpu_tensors; these two go through the scripts' exit path.
    bad_len = run_script("bench.py", "--device", "cpu", "--seq-lens", "1000", check=False)
    assert bad_len.returncode == 2 and "seq_len 1000 is not a multiple of block_m 64" in bad_len.stderr
    v100 = run_script("attention.py", "--arch", "sm_70", check=False)
    assert v100.returncode == 2 and "compute capability 7.0" in v100.stderr and "A100" in v100.stderr
    assert not (workdir / "kernels").exists()  # refused before compiling anything
    for bad in (bad_len, v100):
        assert "Traceback" not in bad.output
