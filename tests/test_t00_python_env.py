"""Tutorial 0 (Python environment): the Miniconda installer script and the environment check.

install_miniconda.sh runs against a local HTTP server that serves a fake installer and a fake copy of the
official checksum listing (the real Miniconda is never downloaded: no test touches the network or a real
HOME). check_env.py runs in the tutorial's environment (torch/torchvision as requirements.txt pins them);
its GPU test runs against torch with its CUDA entry points replaced (tests/fixtures/t00_fake_gpu.py), since
the test machine has no GPU.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from fixtures.t00_helpers import (
    CA_BUNDLE,
    FAKE_INSTALLER,
    installer_env,
    listing,
    page_blocks,
    path_without,
    serve_folder,
    write_listing,
)
from tutorial_fixtures import facts

FIXTURES = Path(__file__).parent / "fixtures"
FACTS = facts()
INSTALLER = FACTS["miniconda_installer"]
WRONG = "0123456789abcdef" * 4

SEARCH_PROBES = {"zh": ["Miniconda", "conda 环境", "check_env"], "en": ["Miniconda", "conda environment"]}


def run_installer(run_script, site, *args, path=None, **extra):
    return run_script("install_miniconda.sh", *args, env=installer_env(site, path, **extra), timeout=120, check=False)


@pytest.fixture
def server(tmp_path):
    """Serve tmp_path/www on 127.0.0.1 at a random port; yield (www folder, base URL)."""
    www = tmp_path / "www"
    (www / "mirror").mkdir(parents=True)
    (www / "official").mkdir()
    with serve_folder(www) as url:
        yield www, url


@pytest.fixture
def site(server, tmp_path):
    """The fake installer on the 'mirror' and its real SHA-256; the caller writes the listing."""
    www, url = server
    installer = www / "mirror" / INSTALLER
    installer.write_text(FAKE_INSTALLER)
    sha = hashlib.sha256(installer.read_bytes()).hexdigest()
    home = tmp_path / "reader-home"
    home.mkdir()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return {"www": www, "url": url, "sha": sha, "home": home, "scratch": scratch, "marker": tmp_path / "ran"}


# ------------------------------------------------------------------------------ install_miniconda.sh
# bash -n and shellcheck of every published script: tests/test_code.py


@pytest.mark.parametrize("tool", ["wget", "curl"])
@pytest.mark.parametrize("one_line", [False, True], ids=["multi-line-rows", "one-line-rows"])
def test_correct_hash_installs(run_script, site, tmp_path, tool, one_line):
    other = "wget" if tool == "curl" else "curl"
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")
    # Decoy rows around the right one: the script must take the hash from the installer's own row.
    write_listing(
        site,
        {
            "Miniconda3-latest-Linux-x86_64.sh": "a" * 64,
            INSTALLER: site["sha"],
            INSTALLER.replace("x86_64", "aarch64"): "b" * 64,
        },
        one_line,
    )
    prefix = site["home"] / "miniconda3"
    result = run_installer(run_script, site, path=path_without(tmp_path, other))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert (prefix / "bin" / "conda").is_file(), out
    assert site["marker"].exists()
    assert site["sha"] in out and "SHA-256 OK" in out
    assert f'source "{prefix}/bin/activate"' in out
    assert list(site["scratch"].iterdir()) == [], "the download must be cleaned up"


def test_wrong_hash_refuses_and_deletes_the_download(run_script, site):
    # The file's real hash sits in another file's row: taking "any hash on the page" would be a bug.
    write_listing(site, {"Miniconda3-latest-Linux-x86_64.sh": site["sha"], INSTALLER: WRONG})
    result = run_installer(run_script, site)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SHA-256 mismatch" in out
    assert f"expected: {WRONG}" in out and f"actual:   {site['sha']}" in out
    assert not (site["home"] / "miniconda3").exists()
    assert not site["marker"].exists(), "the installer must not run"
    assert list(site["scratch"].iterdir()) == [], "the bad download must be deleted"


def test_no_published_hash_stops_before_download(run_script, site):
    write_listing(site, {"Miniconda3-latest-Linux-x86_64.sh": site["sha"]})
    result = run_installer(run_script, site)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"No SHA-256 for {INSTALLER}" in out and "MINICONDA_SHA256" in out
    assert not (site["home"] / "miniconda3").exists()
    assert not site["marker"].exists()


def test_env_override_wins_over_the_listing(run_script, site):
    # The listing is wrong and then unreachable: MINICONDA_SHA256 alone decides.
    write_listing(site, {INSTALLER: WRONG})
    result = run_installer(run_script, site, MINICONDA_SHA256=site["sha"].upper())
    assert result.returncode == 0, result.stdout + result.stderr
    assert (site["home"] / "miniconda3" / "bin" / "conda").is_file()

    target = site["home"] / "other-prefix"
    result = run_installer(
        run_script, site, str(target), MINICONDA_SHA256=site["sha"], MINICONDA_INDEX_URL=f"{site['url']}/missing/"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (target / "bin" / "conda").is_file()


def test_env_override_with_wrong_hash_fails(run_script, site):
    write_listing(site, {INSTALLER: site["sha"]})
    result = run_installer(run_script, site, MINICONDA_SHA256=WRONG)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SHA-256 mismatch" in out and WRONG in out
    assert not site["marker"].exists()
    assert not (site["home"] / "miniconda3").exists()


def test_existing_prefix_is_left_alone(run_script, site):
    write_listing(site, {INSTALLER: site["sha"]})
    prefix = site["home"] / "miniconda3"
    prefix.mkdir()
    (prefix / "keep.txt").write_text("mine")
    result = run_installer(run_script, site)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "already exists" in out
    assert not site["marker"].exists()
    assert sorted(p.name for p in prefix.iterdir()) == ["keep.txt"]


def test_installer_name_is_the_fact(tutorial):
    script = (tutorial.folder / "install_miniconda.sh").read_text(encoding="utf-8")
    assert f'INSTALLER="${{MINICONDA_INSTALLER:-{INSTALLER}}}"' in script


# -------------------------------------------------------------------------------------- check_env.py


def test_requirements_pin_the_tested_versions(tutorial):
    lines = [line.strip() for line in (tutorial.folder / "requirements.txt").read_text().splitlines()]
    pins = [line for line in lines if line and not line.startswith("#")]
    assert pins == [f"torch=={FACTS['torch']}", f"torchvision=={FACTS['torchvision']}"]


def test_check_env_passes_with_the_pinned_versions(tutorial, run_script):
    result = run_script("check_env.py")
    out = result.output
    assert "ENVIRONMENT OK" in out
    assert f"OK             : torch=={FACTS['torch']}" in out
    assert f"OK             : torchvision=={FACTS['torchvision']}" in out
    assert f"({tutorial.python})" in out
    assert f"torch CUDA     : {FACTS['t00_torch_cuda']}" in out and "GPU count      : 0" in out
    assert "No GPU visible: expected on a login node" in out
    assert "Conda env      : none" in out
    # On a node without GPU, --require-gpu must fail, with the reason.
    result = run_script("check_env.py", "--require-gpu", check=False)
    assert result.returncode == 1 and "--require-gpu was given but torch cannot use a GPU" in result.output


def test_check_env_reports_mismatch_and_missing(run_script, tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text(f"torch==2.13.0\ntorchvision=={FACTS['torchvision']}\nnot-a-real-package-t00==1.0\n")
    result = run_script("check_env.py", "--requirements", str(req), "--no-compare", check=False)
    assert result.returncode == 0 and "ENVIRONMENT OK" in result.stdout, result.output  # only reports
    result = run_script("check_env.py", "--requirements", str(req), check=False)
    out = result.output
    assert result.returncode == 1, out
    assert "CHECK FAILED" in out and "ENVIRONMENT OK" not in out
    assert f"torch: requirements.txt pins 2.13.0, but {FACTS['torch']} is installed" in out
    assert "not-a-real-package-t00 is not installed" in out
    assert f"pip install -r {req}" in out


@pytest.mark.parametrize("mode", ["all-ok", "no-kernel", "wrong-result"])
def test_gpu_check_runs_a_kernel_on_every_gpu(run_script, mode):
    """--require-gpu multiplies matrices on each GPU and compares with the CPU (fake GPUs: see the fixture)."""
    result = run_script(str(FIXTURES / "t00_fake_gpu.py"), mode, "check_env.py", "--no-compare", "--require-gpu",
                        check=False)
    out = result.output
    assert "GPU count      : 2" in out and "Tesla V100-SXM2-32GB (sm_70)" in out
    if mode == "all-ok":
        assert result.returncode == 0, out
        assert out.count("test   : OK (a matrix product on the GPU matches the CPU)") == 2
        assert out.rstrip().endswith("ENVIRONMENT OK")
        return
    assert result.returncode == 1, out
    assert "CHECK FAILED" in out and "ENVIRONMENT OK" not in out
    if mode == "no-kernel":
        assert ("GPU 0: a matrix product failed: CUDA error: no kernel image is available for execution on the "
                "device") in out
        assert "not for this GPU's sm_70" in out and "GPU 1 test   : OK" in out
    else:
        assert "GPU 0 test   : OK" in out
        assert "GPU 1: a matrix product gave wrong results" in out


def test_requirements_with_a_byte_order_mark_are_compared(run_script, tmp_path):
    """A requirements file saved by Windows Notepad starts with U+FEFF: its first pin is still compared (read as
    plain UTF-8 it became "\ufefftorch==...", was skipped as no pin, and the check said OK with torch unchecked)."""
    req = tmp_path / "requirements.txt"
    req.write_bytes(f"torch=={FACTS['torch']}\r\ntorchvision=={FACTS['torchvision']}\r\n".encode("utf-8-sig"))
    out = run_script("check_env.py", "--requirements", str(req)).output
    assert f"OK             : torch=={FACTS['torch']}" in out and "skipped" not in out, out
    req.write_bytes(f"torch==2.13.0\ntorchvision=={FACTS['torchvision']}\n".encode("utf-8-sig"))
    result = run_script("check_env.py", "--requirements", str(req), check=False)
    assert result.returncode == 1 and "MISMATCH       : torch==2.13.0" in result.output, result.output
    # UTF-16 (another editor's choice) is named, not a traceback.
    req.write_bytes(f"torch=={FACTS['torch']}\n".encode("utf-16"))
    result = run_script("check_env.py", "--requirements", str(req), check=False)
    assert result.returncode == 1 and "is not UTF-8 text" in result.output, result.output
    assert "Traceback" not in result.output


def test_no_home_conda_alarm_inside_a_container(tutorial, run_script):
    """A container's HOME is the image's /root, not the shared HOME, so a conda prefix under ~ says nothing about
    the shared HOME's conda: the check reports python's path and raises no alarm (the old check could only raise a
    false one)."""
    conda = run_script.home / "miniconda3"
    conda.symlink_to(tutorial.env, target_is_directory=True)
    result = run_script("bash", "-c", '"$CONDA_PREFIX/bin/python" check_env.py --no-compare',
                        env={"CONDA_PREFIX": str(conda), "CONDA_DEFAULT_ENV": "base",
                             "KUBERNETES_SERVICE_HOST": "10.0.0.1"})
    out = result.output
    assert f"({conda}/bin/python)" in out, out
    assert "WARNING" not in out and out.rstrip().endswith("ENVIRONMENT OK"), out


def test_check_env_helpers(tutorial, run_script):
    code = ("import importlib.util, sys; sys.dont_write_bytecode = True\n"
            "s = importlib.util.spec_from_file_location('c', 'check_env.py'); m = importlib.util.module_from_spec(s)\n"
            "s.loader.exec_module(m)\n"
            "assert m.version_matches('3.4.5', '3.4.5+cu126') and m.version_matches('3.4.5', '3.4.5')\n"
            "assert not m.version_matches('3.4.5', '3.4.50')\n"
            "assert not m.version_matches('3.4.5+cu126', '3.4.5+cu130')\n"
            "assert m.as_tuple('13.0') > m.as_tuple('12.8') and m.as_tuple('12.10') > m.as_tuple('12.9')\n"
            "print('helpers ok')")
    assert "helpers ok" in run_script("python", "-c", code).stdout


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_page_commands_fit_the_readers_state(lang):
    blocks = page_blocks(lang)
    joined = "\n".join(blocks)
    # Another torch build is installed into a fresh environment (pip's == accepts any installed 2.14.1 build,
    # so installing over the default build would do nothing) or with --force-reinstall.
    for block in blocks:
        if "download.pytorch.org" in block and "pip install" in block:
            assert "conda create" in block or "--force-reinstall" in block, block
    # conda init is followed by turning off base auto-activation (shared HOME with the AI platform).
    assert "conda init bash" in joined and "conda config --set auto_activate_base false" in joined
    # The long install runs in tmux, and the environment is activated inside the tmux session.
    first = next(i for i, b in enumerate(blocks) if b.startswith("tmux new"))
    inside = blocks[first + 1]
    assert inside.index("conda activate torch") < inside.index("pip install"), inside


# ------------------------------------------------------------------------------------------- on a GPU


@pytest.mark.gpu
def test_check_env_on_a_real_gpu(run_script):
    """On a GPU node (make verify-gpu): --require-gpu passes, names each GPU and runs the kernel check on it."""
    result = run_script("check_env.py", "--require-gpu", gpu=True)
    out = result.output
    assert "CUDA available : True" in out, out
    assert re.search(r"^  GPU 0        : .+ \(sm_\d+\)$", out, re.M), out
    count = int(re.search(r"^GPU count      : (\d+)$", out, re.M).group(1))
    assert count >= 1 and out.count("test   : OK (a matrix product on the GPU matches the CPU)") == count, out
    assert out.rstrip().endswith("ENVIRONMENT OK"), out


# ------------------------------------------------------------------------------------------ page walk


def test_page_walk(page_walk, tutorial, tmp_path):
    """The page's blocks in page order: download, install Miniconda (a stand-in installer from a stand-in
    repo.anaconda.com, its checksum on the listing) and conda init in one block, the GPU query on a compute node,
    the environment in tmux, the check on the login node; then the AI-platform section: the folder's path printed
    on the login node, the folder mounted into a container that sees nothing else of HOME, the image's Python
    checked there."""
    repo = tmp_path / "repo.anaconda.com"
    repo.mkdir()
    installer = repo / INSTALLER
    walk = page_walk(internet={"https://repo.anaconda.com/miniconda/": repo},
                     env={"login": dict(CA_BUNDLE),
                          "container": {"KUBERNETES_SERVICE_HOST": "10.0.0.1",
                                        "SCOW_AI_ALGORITHM_PATH": "/mnt/scow/algorithm"}})
    walk.miniconda_installer(installer)
    sha = hashlib.sha256(installer.read_bytes()).hexdigest()
    (repo / "index.html").write_text(listing({"Miniconda3-latest-Linux-x86_64.sh": "a" * 64, INSTALLER: sha}))
    folder = walk.home / "scow-tutorials" / tutorial.slug  # the page's ~/scow-tutorials/NN-slug
    walk.mount = folder
    walk.typed = {"<完整路径>": folder}  # what the reader types: the path `echo` printed
    result = walk.run()
    assert result.run_count == 9
    assert sorted(result.output(0).split()[-3:]) == ["check_env.py", "install_miniconda.sh", "requirements.txt"]
    assert "SHA-256 OK" in result.output(1) and f"Miniconda installed in {walk.home}/miniconda3" in result.output(1)
    assert "auto_activate_base: false" in (walk.home / ".condarc").read_text()
    assert "NVIDIA" in result.output(4)
    login = result.output(10)
    assert f"({walk.home}/miniconda3/envs/torch/bin/python)" in login and login.rstrip().endswith("ENVIRONMENT OK")
    assert result.output(12).strip().endswith(str(folder))
    container = result.output(13)
    image_python = str(walk.image_env() / "bin" / "python")
    assert f"\n{image_python}\n" in container, container
    assert f"({image_python})" in container and "WARNING" not in container, container
    assert container.rstrip().endswith("ENVIRONMENT OK"), container
    page_walk.same_blocks("en", typed={"zh": {"<完整路径>": "/p", "<复制的校验值>": "X"},
                                       "en": {"<full path>": "/p", "<the copied checksum>": "X"}})
