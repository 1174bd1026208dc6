"""The page walk itself (tests/walk/) on small pages written here: what it runs, in which node model, and
the mistakes it must catch (a block before the one that makes its folder, a `cd` into a folder the node cannot
see, a download on a node without network, `~` relied on across two container sessions)."""

from __future__ import annotations

import pytest

from scow_tutorials import blocks as site_blocks
from walk import Walk, WalkError, placeholders
from tutorial_fixtures import other_tutorial

FILES = other_tutorial(5)  # the walk's files_url points at a real tutorial's published files


def walk_of(tmp_path, walk_server, text: str, **options) -> Walk:
    page = tmp_path / "index.md"
    page.write_text(text, encoding="utf-8")
    return Walk(FILES, page, "zh", tmp_path / "walk", walk_server, **options)


def block(node: str, code: str) -> str:
    return f"<!-- run: {node} -->\n```bash\n{code.strip()}\n```\n\n"


DOWNLOAD = block("login", """
mkdir -p ~/scow-tutorials/05-datasets
cd ~/scow-tutorials/05-datasets
wget -q {{ files_url }}fill_names.sh
echo ~/scow-tutorials
""")
IN_CONTAINER = block("container", """
ls "<完整路径>/05-datasets/fill_names.sh"
cd "<完整路径>/05-datasets"
bash fill_names.sh --help || true
""")


def test_login_download_then_container_through_the_mount_point(tmp_path, walk_server):
    walk = walk_of(tmp_path, walk_server, DOWNLOAD + IN_CONTAINER, mount=None)
    walk.mount = walk.home / "scow-tutorials"
    walk.typed = {"<完整路径>": walk.mount}
    walk.mount.mkdir(parents=True)
    result = walk.run()
    assert str(walk.home / "scow-tutorials") in result.output(0)
    assert (walk.home / "scow-tutorials" / "05-datasets" / "fill_names.sh").is_file()
    assert result.run_count == 2


def test_files_url_of_another_tutorial_is_the_walks_own_site(tmp_path, walk_server):
    """``{{ files_url.05 }}`` on another tutorial's page fetches Tutorial 5's published file from the walk's own
    copy of the site: no test declares it as "internet"."""
    page = block("login", "mkdir -p ~/t && cd ~/t\nwget -q {{ files_url.05 }}fill_names.sh\n"
                          "wget -q {{ files_url }}fill_names.sh -O same.sh")
    (tmp_path / "index.md").write_text(page, encoding="utf-8")
    walk = Walk(other_tutorial(12), tmp_path / "index.md", "zh", tmp_path / "walk", walk_server)
    with pytest.raises(WalkError, match=r"(?s)`wget -q http://127\.0\.0\.1:\d+/site/tutorials/12-[a-z-]+/fill_names.sh"):
        walk.run()  # Tutorial 12 publishes no fill_names.sh: its own files_url is its own folder
    fetched = tmp_path / "walk" / "home" / "reader" / "t" / "fill_names.sh"
    assert fetched.read_bytes() == (FILES.folder / "fill_names.sh").read_bytes()


def test_a_block_before_the_one_that_creates_its_folder_fails(tmp_path, walk_server):
    moved = block("login", "cd ~/scow-tutorials/05-datasets\nwget -q {{ files_url }}fill_names.sh") + \
        block("login", "mkdir -p ~/scow-tutorials/05-datasets")
    with pytest.raises(WalkError, match=r"(?s)block 0 .*`cd ~/scow-tutorials/05-datasets` \(line 1 of the block\) exited 1"):
        walk_of(tmp_path, walk_server, moved).run()


def test_cd_into_home_inside_a_container_fails(tmp_path, walk_server):
    page = DOWNLOAD + block("container", "cd ~/scow-tutorials/05-datasets")
    with pytest.raises(WalkError, match=r"(?s)block 1 \(container\).*No such file or directory"):
        walk_of(tmp_path, walk_server, page).run()


def test_the_container_sees_no_home_without_a_mount_point(tmp_path, walk_server):
    walk = walk_of(tmp_path, walk_server, DOWNLOAD + IN_CONTAINER)
    walk.typed = {"<完整路径>": walk.home / "scow-tutorials"}
    with pytest.raises(WalkError, match=r"(?s)block 1 .*No such file or directory"):
        walk.run()


def test_a_download_on_a_compute_node_fails(tmp_path, walk_server):
    page = block("compute", "mkdir -p ~/t && cd ~/t\nwget -q {{ files_url }}fill_names.sh")
    with pytest.raises(WalkError, match=r"(?s)block 0 \(compute\).*`wget .*` \(line 2 of the block\) exited 4"):
        walk_of(tmp_path, walk_server, page).run()


def test_pip_and_model_downloads_need_the_network(tmp_path, walk_server):
    model = tmp_path / "tiny"
    model.mkdir()
    (model / "config.json").write_text("{}")
    page = block("login", "modelscope download org/tiny --local-dir ~/models/tiny\nls ~/models/tiny/config.json")
    walk = walk_of(tmp_path, walk_server, page + block("compute", "modelscope download org/tiny --local-dir ~/x"),
                   models={"org/tiny": model})
    with pytest.raises(WalkError, match=r"(?s)block 1 \(compute\).*Network is unreachable"):
        walk.run()
    assert "download org/tiny --local-dir" in (walk.record / "downloads.log").read_text()


def test_state_carries_over_within_a_session_and_home_is_fresh_per_container(tmp_path, walk_server):
    same = block("container a", "cd \"$WORK_DIR\"\nexport GREETING=hi\necho kept > ~/note") + \
        block("container a", "echo \"$GREETING from $(pwd)\"\ncat ~/note")
    walk = walk_of(tmp_path, walk_server, same)
    result = walk.run()
    assert f"hi from {walk.work_dir}" in result.output(1) and "kept" in result.output(1)
    lost = same + block("container b", "cat ~/note")
    (tmp_path / "again").mkdir()
    with pytest.raises(WalkError, match=r"(?s)block 2 \(container b\).*No such file"):
        walk_of(tmp_path / "again", walk_server, lost).run()


def test_nvidia_smi_stand_in_follows_the_node(tmp_path, walk_server):
    page = block("compute", "nvidia-smi --query-gpu=name,compute_cap --format=csv,noheader") + \
        block("login", "nvidia-smi")
    walk = walk_of(tmp_path, walk_server, page, gpus=2, gpu_name="Tesla V100-SXM2-32GB")
    with pytest.raises(WalkError, match=r"(?s)block 1 \(login\).*couldn't communicate with the NVIDIA driver"):
        walk.run()
    assert walk.steps[0].output.count("Tesla V100-SXM2-32GB") == 2


def test_conda_state_of_tutorial_0(tmp_path, walk_server):
    page = block("login", "conda activate torch\nwhich python\npython -c 'import torch; print(torch.__version__)'")
    walk = walk_of(tmp_path, walk_server, page)
    walk.install_conda()
    result = walk.run()
    assert str(walk.home / "miniconda3" / "envs" / "torch" / "bin" / "python") in result.output(0)


def test_placeholders_must_be_declared_and_none_blocks_are_not_run(tmp_path, walk_server):
    page = block("none: needs a GPU", "nvidia-smi") + block("login", "cd <完整路径>")
    with pytest.raises(WalkError, match=r"placeholder <完整路径>"):
        walk_of(tmp_path, walk_server, page).run()
    assert placeholders('cat <<EOF\nx 2>&1 < in > out <(ls) <ModelScope 上的模型 ID> <partition>') == [
        "<ModelScope 上的模型 ID>", "<partition>"]


def test_markers(tmp_path):
    text = "```bash\nls\n```\n\n<!-- run: nowhere -->\n```bash\nls\n```\n\n<!-- run: login -->\n\n```bash\nls\n```\n" \
           "```bash\n--8<-- \"tutorials/x/y.sh\"\n```\n<!-- run: none: -->\n```sh\nls\n```\n"
    found = site_blocks.problems(text)
    assert any("line 1: a bash block without a run marker" in p for p in found)
    assert any("'nowhere' is not NODE" in p for p in found)
    assert any("must stand alone on the line directly above" in p for p in found)
    assert any("'none' needs a reason" in p for p in found)
    assert len(site_blocks.shell_blocks(text)) == 4  # the include is a file shown, not a command
    assert "<!-- run" not in site_blocks.strip(text)


# ------------------------------------------------------------------ mutated copies of a real page (Tutorial 5)
def t5_walk(tmp_path, walk_server, text: str) -> Walk:
    walk = walk_of(tmp_path, walk_server, text)
    walk.dataset = walk.home / "datasets" / "scow-identity"  # what the page registers and the form attaches
    return walk


def t5_blocks() -> tuple[str, list[site_blocks.Block], int]:
    """Tutorial 5's page, its blocks, and the number of its first container block (blocks 0 and 1: the download
    into the dataset folder, then the fill-in command run there)."""
    text = FILES.page_text("zh")
    blocks = site_blocks.shell_blocks(text)
    assert [b.node for b in blocks[:2]] == ["login", "login"], "test setup: Tutorial 5's blocks"
    assert "mkdir -p" in blocks[0].code and "fill_names.sh" in blocks[1].code, "test setup: Tutorial 5's blocks"
    container = next(i for i, b in enumerate(blocks) if b.node == "container")
    return text, blocks, container


def fenced(block: site_blocks.Block) -> str:
    return f"```{block.lang}\n{block.code}```"


def test_tutorial_5_as_written_walks(tmp_path, walk_server):
    text, _, container = t5_blocks()
    assert t5_walk(tmp_path, walk_server, text).run().run_count > container


def test_tutorial_5_with_a_block_moved_before_its_folder_fails(tmp_path, walk_server):
    text, blocks, _ = t5_blocks()
    first, second = fenced(blocks[0]), fenced(blocks[1])
    assert first in text and second in text
    moved = text.replace(first, "@@FIRST@@").replace(second, first).replace("@@FIRST@@", second)
    with pytest.raises(WalkError, match=r"(?s)block 0 \(login\).*fill_names.sh"):
        t5_walk(tmp_path, walk_server, moved).run()


def test_tutorial_5_with_a_cd_into_home_in_the_container_fails(tmp_path, walk_server):
    text, blocks, container = t5_blocks()
    block = fenced(blocks[container])
    changed = text.replace(block, block.replace("```bash\n", "```bash\ncd ~/datasets/scow-identity\n", 1))
    with pytest.raises(WalkError, match=rf"(?s)block {container} \(container\).*No such file or directory"):
        t5_walk(tmp_path, walk_server, changed).run()


def test_tutorial_5_with_its_download_on_a_compute_node_fails(tmp_path, walk_server):
    text, blocks, _ = t5_blocks()
    marker = f"<!-- run: login -->\n{fenced(blocks[0])}"
    assert marker in text, "test setup: the download block's marker"
    changed = text.replace(marker, marker.replace("run: login", "run: compute"), 1)
    with pytest.raises(WalkError, match=r"(?s)block 0 \(compute\).*`wget -N .*` \(line 3 of the block\)"):
        t5_walk(tmp_path, walk_server, changed).run()
