"""Portal steps are data the build checks: every label a page bolds is one of OpenSCOW's (or a newer release's).

The labels come from ``src/scow_tutorials/portal_labels.json`` (generated from OpenSCOW's source by
``tools/portal_labels.py``) and ``src/scow_tutorials/portal.yml`` (glosses, newer names, forms)."""

from __future__ import annotations

import json
import re

import pytest

from conftest import DOCS, ROOT, mkdocs_build
from scow_tutorials import portal

SHARED = ROOT.parent / "shared" / "portal-labels.json"
CODE_FENCE_RE = re.compile(r"^[ \t]*(`{3,}|~{3,}).*?^[ \t]*\1[ \t]*$", re.M | re.S)
BOLD_RE = re.compile(r"\*\*([^*\n]+?)\*\*")


def _render(text: str, lang: str = "zh") -> str:
    return portal.render(text, lang, "docs/x.md", text)


def _prose(path) -> str:
    """A page's text outside fenced code, inline code and HTML comments."""
    text = CODE_FENCE_RE.sub("", path.read_text(encoding="utf-8"))
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    return re.sub(r"(`+).+?\1", "", text)


def test_label_list_holds_the_shared_extract():
    """Every label extracted from OpenSCOW for this project (shared/portal-labels.json) is in the repository's
    list, and the list names the commit it was made from."""
    if not SHARED.exists():
        pytest.skip("shared/portal-labels.json is not beside the checkout")
    shared = json.loads(SHARED.read_text(encoding="utf-8"))
    labels = portal.labels()
    assert shared["source"].split("@")[1][:7] in labels.source
    assert set(shared["hpc"]["zh"]) <= set(labels.hpc)
    assert set(shared["ai"]["zh"]) <= labels.ai | labels.apps


@pytest.mark.parametrize("zh, en", [("交互式应用", "Applications"), ("已创建的应用", "Created Apps"),
                                    ("节点数", "Node Count"), ("最长运行时间", "Maximum Running Time"),
                                    ("文件管理", "Files"), ("未结束的作业", "Running Jobs"),
                                    ("单节点GPU卡数", "GPU Cards per Node"), ("上传文件", "Upload File")])
def test_english_glosses_are_the_hpc_portals_strings(zh, en):
    assert portal.labels().hpc[zh] == en
    assert f"**{zh}** ({en}" in _render(f"{{{{ portal.hpc: {zh} }}}}", "en")


def test_steps_render_as_bold_paths_with_newer_names():
    zh = _render("{{ portal.hpc: 交互式应用 > <集群> > 创建应用 }}, {{ portal.ai: 连接 }}")
    assert "**交互式应用 → &lt;集群&gt; → 创建应用**" in zh
    assert "**连接**（新版本为 **进入**）" in zh
    en = _render("{{ portal.ai: 数据 > 我的数据集 }}", "en")
    assert en == "**数据 → 我的数据集** (Data → My Datasets; in newer releases **数据** is **数据资产**)"


def test_code_is_left_alone():
    text = "`{{ portal.ai: nothing }}`\n```bash\necho {{ portal.ai: nothing }}\n```"
    assert _render(text) == text


@pytest.mark.parametrize("step, nearest", [("{{ portal.ai: 进入容噐 }}", "进入容器"),
                                           ("{{ portal.hpc: 交互式应用 > 创建应用程序 }}", "创建应用")])
def test_unknown_label_names_line_and_nearest(step, nearest):
    source = "intro\n\n" + step + "\n"
    with pytest.raises(portal.PortalError) as err:
        portal.render(source, "zh", "docs/x.md", source)
    assert "docs/x.md:3:" in str(err.value) and f"'{nearest}'" in str(err.value)


def test_form_orders_fields_and_adds_the_ticks():
    out = _render("```portal-form ai-app\n单节点GPU卡数: 1\n模型: Qwen\n挂载点: /home/x\n"
                  "远程镜像地址: img:1\n```")
    rows = [line.split("|")[1].strip() for line in out.splitlines()[2:]]
    assert rows == ["**使用自定义镜像**（新版本为 **镜像来源**）", "**远程镜像地址**", "**挂载点**", "**添加类型**",
                    "**模型**", "**单节点GPU卡数**（新版本为 **单节点加速卡卡数**）"]
    assert "| **添加类型** | 勾选 **模型** |" in out


def test_form_refuses_a_field_it_does_not_have():
    with pytest.raises(portal.PortalError, match=r"form 'ai-train' has no field '启动命令'"):
        _render("```portal-form ai-train\n启动命令: x\n```")


def test_every_page_names_portal_labels_through_the_syntax():
    """A bold menu path or a bold known label written by hand escapes the check: write it as
    {{ portal.hpc/ai: … }} instead (a path of another program, e.g. VSCode's **Terminal → New Terminal**, is fine)."""
    labels = portal.labels()
    known = labels.known("hpc") | labels.known("ai")
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        for bold in BOLD_RE.findall(_prose(page)):
            text = bold.strip()
            segments = [s.strip() for s in text.split("→")]
            if (len(segments) > 1 and any(s in known for s in segments)) or text in known - labels.apps:
                found.append(f"{page.relative_to(ROOT)}: **{text}**")
    assert not found, "write these as {{ portal.hpc: … }} / {{ portal.ai: … }}:\n" + "\n".join(found)


def test_build_stops_on_a_mutated_label(project_copy, tmp_path):
    """Mutate one label on a copy (the first portal step of the first page that has one): the build fails
    naming the page, the line and the nearest label."""
    pages = [p for p in sorted((project_copy / "docs").rglob("*.md")) if "{{ portal." in p.read_text("utf-8")]
    if pages:
        page = pages[0]
        text = page.read_text(encoding="utf-8")
        step = re.search(r"\{\{\s*portal\.(?:hpc|ai):\s*([^<>{}]+?)\s*(?:>|\}\})", text)
        assert step, f"no checkable label in {page}"
        label = step.group(1).strip()
        broken = text[:step.start(1)] + label + "X" + text[step.end(1):]
    else:
        page = project_copy / "docs" / "index.md"
        label = "连接"
        broken = page.read_text(encoding="utf-8") + "\n{{ portal.ai: 连接X }}\n"
    page.write_text(broken, encoding="utf-8")
    result = mkdocs_build(tmp_path / "out", project_copy)
    log = result.stdout + result.stderr
    assert result.returncode != 0, "the build passed with a label the portal does not have"
    rel = page.relative_to(project_copy).as_posix()
    line = broken[:broken.find(label + "X")].count("\n") + 1
    assert f"{rel}:{line}:" in log and f"'{label}X' is not a label" in log


def test_files_url_of_another_tutorial():
    """``{{ files_url.05 }}`` is the folder of Tutorial 5's files (pages fetch a shared script from there)."""
    from types import SimpleNamespace

    from scow_tutorials.frontmatter import FrontMatterError, substitute
    config = SimpleNamespace(site_url="https://hpc.example.edu.cn/tutorial/", docs_dir=str(DOCS), extra={})
    five = next(p.name for p in (DOCS / "tutorials").glob("05-*"))
    out = substitute("wget {{ files_url.05 }}x.py", config, "tutorials/09-x/index.md", "docs/t.md")
    assert out == f"wget https://hpc.example.edu.cn/tutorial/tutorials/{five}/x.py"
    with pytest.raises(FrontMatterError, match="there is no tutorial 98"):
        substitute("{{ files_url.98 }}", config, "index.md", "docs/t.md")


def test_english_gloss_is_not_repeated_when_nothing_translates():
    en = _render("{{ portal.hpc: Shell > <cluster> > <login node> }}", "en")
    assert en == "**Shell → &lt;cluster&gt; → &lt;login node&gt;** (in newer releases **Shell** is **登录集群**)"


def test_no_space_after_the_full_width_parenthesis_in_chinese():
    assert _render("点 {{ portal.ai: 连接 }} 打开") == "点 **连接**（新版本为 **进入**）打开"
