"""Tutorial 14 (TileLang attention): the kernel compiles to CUDA for the GPUs the page names, with nvcc from the
pinned pip packages only; the reference, the tiled algorithm, the correctness check and the benchmark harness run
on CPU tensors; the clear errors (no GPU, unsupported GPU, unsupported shape) are exercised.

Running the kernel needs an NVIDIA GPU: the tests marked ``gpu`` do (the kernel against the reference, and two
broken "mutant" kernels that the same check must reject; bench.py on CUDA); elsewhere they skip. That the
tolerances catch the mutants is also shown here on the CPU, with the tiled PyTorch mirror of the kernel
(tests/fixtures/t14_mutants.py), on the same shapes and the same input tensors as the GPU test.

The CPU run of bench.py the page shows is recorded from test_page_bench_output_is_recorded
(``record_or_compare``; re-record with TUTORIAL_RECORD=1).
"""

import json
import re
from pathlib import Path

import pytest

from fixtures.t14_helpers import (
    CA_BUNDLE,
    CASES,
    MARGIN,
    SMALL,
    check_row,
    no_system_cuda,
    parse_table,
    same_but_numbers,
)
from tutorial_fixtures import facts, record_or_compare

FACTS = facts()

FIXTURES = Path(__file__).parent / "fixtures"
SEARCH_PROBES = {"zh": ["TileLang", "注意力"], "en": ["TileLang", "online softmax"]}


def test_requirements_pin_one_cuda_compiler_release(tutorial):
    pins = dict(line.split("==") for line in (tutorial.folder / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#"))
    assert {"torch", "tilelang"} <= set(pins)  # their versions: the pages read them as {{ pin.NAME }}
    cuda = {name: version for name, version in pins.items() if name.startswith("nvidia-")}
    assert set(cuda) == {"nvidia-cuda-nvcc", "nvidia-nvvm", "nvidia-cuda-crt", "nvidia-cuda-cccl",
                         "nvidia-cuda-runtime"}
    # One CUDA release for all of them (mixed releases fail to compile): extra.facts.t14_cuda.
    assert all(v.startswith(f"{FACTS['t14_cuda']}.") for v in cuda.values()), cuda


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
    # What the page says about Hopper: a TMA producer warpgroup beside the 128 computing threads (256 in all, one
    # block per SM), and setmaxnreg (TileLang's warpgroup_reg_alloc/dealloc), an sm_90a feature.
    assert "__launch_bounds__(256, 1)" in hopper and "if (((int)threadIdx.x) < 128)" in hopper
    assert "warpgroup_reg_alloc<240>" in hopper and "warpgroup_reg_dealloc<24>" in hopper
    assert "__launch_bounds__(128, 1)" in ampere
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
    # Warm-up calls (0.5 s each) are not timed; of the timed 10, 10, 300, 10, 10 ms the median is 10 ms.
    assert 9.5 < data["measure_ms"] < 60
    assert data["measure_calls"] == {"fn": 7, "flush": 5}  # the L2 flush runs before every timed call

    # The float32 reference out of memory: that row is marked, the others are checked, exit code 2.
    oom = data["reference_oom"]
    assert oom["code"] == 2, oom
    assert "seq_len 128: NOT CHECKED: the float32 reference ran out of cpu memory" in oom["stdout"]
    assert "smaller --batch or --heads" in oom["stdout"]
    assert re.search(r"^ +128 +no ref", oom["stdout"], re.M) and re.search(r"^ +64 +[0-9.]+ ", oom["stdout"], re.M)
    assert "seq_len 64: naive OK" in oom["stdout"] and "Not checked: seq_len 128" in oom["stdout"]
    # The pipeline depth build_kernel uses (and bench.py prints): 1 only for the causal kernel on Ampere.
    assert data["stages"] == {"sm_80": 2, "sm_80_causal": 1, "sm_86": 2, "sm_86_causal": 1, "sm_90a": 2,
                              "sm_90a_causal": 2}

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
    # block_m 16 or 32 with 128 threads compile no further than TileLang's layout inference: refused up front.
    for key in ("block_m_32", "block_m_16"):
        assert "block_m must be a multiple of 64" in shapes[key]["error"], shapes[key]
        assert "each of the 4 warps takes 16 whole query rows" in shapes[key]["error"]
    assert "block_m must be a multiple of 128" in shapes["block_m_64_threads_256"]["error"]
    assert shapes["block_n_16"] == {"value": None} and shapes["block_m_128_threads_256"] == {"value": None}
    assert "multiple of 32" in shapes["threads_100"]["error"]

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


def test_benchmark_harness_on_cpu(run_script):
    result = run_script("bench.py", "--device", "cpu", "--seq-lens", "64", "128", "--batch", "1", "--heads", "2",
                        "--head-dim", "64", "--warmup", "0", "--reps", "1")
    assert "Traceback" not in result.output and "Warning" not in result.output
    assert "Device: cpu" in result.stdout
    assert "Timing: time.perf_counter, median of 1 calls after 0 warm-up calls" in result.stdout
    assert "atol 0.01, rtol 0.01" in result.stdout
    # The SDPA backend that was timed is named (SDPA runs restricted to it), once per sequence length.
    backends = re.findall(r"^seq_len (\d+): sdpa backend (\w+)$", result.stdout, re.M)
    assert [n for n, _ in backends] == ["64", "128"], result.stdout
    assert {b for _, b in backends} <= {"FLASH_ATTENTION", "CUDNN_ATTENTION", "EFFICIENT_ATTENTION", "MATH"}
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


def test_page_bench_output_is_recorded(tutorial, run_script):
    """The page's CPU run of bench.py (its exact command) comes from this run; TUTORIAL_RECORD=1 rewrites it."""
    command = ["--device", "cpu", "--seq-lens", "128", "256", "--heads", "2"]
    result = run_script("bench.py", *command)
    assert "All outputs match the reference" in result.stdout
    record_or_compare(tutorial.folder / "example_bench_cpu.txt", result.stdout, same=same_but_numbers)
    assert not same_but_numbers("sdpa backend MATH\n", "sdpa backend FLASH_ATTENTION\n")
    for lang in ("zh", "en"):
        page = tutorial.page_text(lang)
        assert "python bench.py " + " ".join(command) in page
        assert f'--8<-- "tutorials/{tutorial.slug}/example_bench_cpu.txt"' in page


def test_tolerances_catch_the_mutants_on_cpu(run_script):
    """Both mutants, on the GPU test's shapes and tensors, are rejected by bench.py's check with room to spare;
    the correct algorithm passes. Fails if the tolerances are loosened so far that a mutant would pass."""
    results = json.loads(run_script(str(FIXTURES / "t14_mutants.py"), json.dumps(CASES)).stdout)
    assert [r["case"] for r in results] == CASES
    for r in results:
        assert not r["correct"]["rejected"] and r["correct"]["nan"] == 0, r
        assert r["correct"]["ratio"] < 1, r
        mutants = ["no_rescale"] + (["causal_inverted"] if r["case"][-1] else [])
        for name in mutants:
            m = r[name]
            assert m["rejected"], (name, r)
            assert m["nan"] > 0 or m["ratio"] > MARGIN, (name, r)
        if not r["case"][-1]:  # without the mask the inverted mask changes nothing: no claim there
            assert not r["causal_inverted"]["rejected"]


def test_mutant_kernels_compile_for_hopper(tutorial, run_script):
    """The GPU test's mutant kernels are valid TileLang: each compiles for sm_90a, to a different CUDA source."""
    result = run_script(str(FIXTURES / "t14_mutants.py"), "--compile", "sm_90a", env=no_system_cuda(tutorial))
    compiled = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(compiled) == {"kernel", "causal_inverted", "no_rescale"}
    assert len({c["source_sha"] for c in compiled.values()}) == 3


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
    # block_m 32 passed the old shape check and then crashed inside TileLang's compiler: now refused first.
    small = run_script("attention.py", "--arch", "sm_80", *SMALL, "--block-m", "32", "--block-n", "32",
                       check=False)
    assert small.returncode == 2 and "block_m must be a multiple of 64" in small.stderr, small.output
    assert "nvcc:" not in small.stdout  # before anything was set up or compiled
    small_bench = run_script("bench.py", "--device", "cpu", "--seq-lens", "128", "--block-m", "16", check=False)
    assert small_bench.returncode == 2 and "block_m 16 is too small" in small_bench.stderr
    reps = run_script("bench.py", "--device", "cpu", "--reps", "0", check=False)
    assert reps.returncode == 2 and "--reps 1" in reps.stderr
    assert not (workdir / "kernels").exists()  # refused before compiling anything
    for bad in (bad_len, v100, small, small_bench, reps):
        assert "Traceback" not in bad.output


# ---- on a GPU (skipped where none is present) -------------------------------------------------------------


@pytest.mark.gpu
def test_kernel_matches_reference_and_catches_mutants_on_gpu(run_script):
    """The compiled kernel passes bench.py's check on every case; both mutant kernels fail it."""
    result = run_script(str(FIXTURES / "t14_gpu_check.py"), json.dumps(CASES), gpu=True, timeout=1800)
    results = json.loads(result.stdout.strip().splitlines()[-1])
    assert [r["case"] for r in results] == CASES
    for r in results:
        assert r["arch"] in {"sm_80", "sm_86", "sm_89", "sm_90a"}
        kernel = r["kernel"]
        assert not kernel["rejected"] and kernel["nan"] == 0 and kernel["dtype"] == r["case"][4], r
        assert r["no_rescale"]["rejected"], r
        if r["case"][-1]:
            assert r["causal_inverted"]["rejected"], r


@pytest.mark.gpu
def test_bench_on_gpu(run_script):
    """bench.py on CUDA: every field of its output, for fp16 and for causal bf16."""
    for extra in ([], ["--causal", "--dtype", "bfloat16"]):
        result = run_script("bench.py", "--seq-lens", "512", "1024", "--warmup", "3", "--reps", "10", *extra,
                            gpu=True, timeout=1800)
        out = result.stdout
        gpu = re.search(r"^GPU: (.+) \(compute capability (\d+)\.(\d+), target (sm_\w+)\)$", out, re.M)
        assert gpu, out
        assert re.search(r"^torch \S+ \(CUDA 13\.0\), tilelang 0\.1\.15, nvcc \S+nvidia/cu13/bin/nvcc$", out, re.M)
        stages = 1 if extra and gpu.group(4).startswith("sm_8") else 2
        assert f"tiles 64x64, {stages} stage{'s' if stages > 1 else ''}, 128 threads" in out, out
        assert re.search(r"^Timing: CUDA events, median of 10 calls after 3 warm-up calls; L2 flushed before each "
                         r"\(writes \d+ MiB\)$", out, re.M), out
        assert len(re.findall(r"^seq_len \d+: sdpa backend (FLASH_ATTENTION|CUDNN_ATTENTION|EFFICIENT_ATTENTION"
                              r"|MATH)$", out, re.M)) == 2, out
        assert len(re.findall(r"naive OK .*; sdpa OK .*; tilelang OK", out)) == 2, out
        header, rows = parse_table(out)
        assert header[7:10] == ["tilelang", "ms", "TFLOPS"] and set(rows) == {512, 1024}
        for n, cells in rows.items():
            check_row(cells, 4 * 2 * 16 * n * n * 128 // (2 if extra else 1))
        assert "All outputs match the reference" in out


def test_page_walk(page_walk, tutorial):
    """The page's blocks in page order on the login node: download, install into Tutorial 0's environment, check
    g++, compile for sm_90a and sm_80, and the CPU run of bench.py. The GPU steps (and the optional compiler
    install) are marked none: they need a real GPU or the internet."""
    walk = page_walk(env={"login": CA_BUNDLE})
    walk.install_conda()
    result = walk.run()
    assert result.run_count == 5
    assert re.search(r"^g\+\+ .* (\d+)\.\d+", result.output(3), re.M), result.output(3)
    compiled = result.output(5)
    assert "sm_90a: compiled for H100/H800/H200" in compiled and "sm_80: compiled for A100/A800" in compiled
    assert f"{walk.home}/miniconda3/envs/torch/lib/python" in compiled  # the pip nvcc of the reader's environment
    folder = walk.home / "scow-tutorials" / tutorial.slug
    assert (folder / "kernels" / "attention_sm_90a.cu").is_file()
    bench = result.output(8)
    assert "Device: cpu" in bench and "All outputs match the reference" in bench, bench
    page_walk.same_blocks("en")
