"""What the build refuses to publish (overrides/hooks/safety.py, scow_tutorials.safety and the front-matter
loader), each rule on a copy of the project broken on purpose, and what it writes for nginx: the
Content-Security-Policy include and the pre-compressed files."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import subprocess
import time

import pytest

from conftest import ROOT, mkdocs_build
from scow_tutorials import safety

T1_DIR = "docs/tutorials/01-house-prices"
T1 = f"{T1_DIR}/index.md"
T1_EN = f"{T1_DIR}/index.en.md"


def edit(project, rel: str, old: str, new: str) -> None:
    path = project / rel
    text = path.read_text(encoding="utf-8")
    assert re.search(old, text, flags=re.M), f"test setup: {old!r} not in {rel}"
    path.write_text(re.sub(old, lambda _: new, text, count=1, flags=re.M), encoding="utf-8")


def append(project, rel: str, text: str) -> None:
    path = project / rel
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def failed_build(project, tmp_path, **env) -> str:
    result = mkdocs_build(tmp_path / "out", project, **env)
    log = result.stdout + result.stderr
    assert result.returncode != 0, "the build should have failed but passed:\n" + log[-2000:]
    return log


# ----------------------------------------------------------------------------- files outside docs/
def test_symlink_to_a_host_file_is_refused(project_copy, tmp_path):
    (project_copy / T1_DIR / "passwd").symlink_to("/etc/passwd")
    log = failed_build(project_copy, tmp_path)
    assert f"{T1_DIR}/passwd: is a symbolic link" in log, log[-2000:]
    assert not (tmp_path / "out" / "tutorials" / "01-house-prices" / "passwd").exists()


def test_symlinked_folder_is_refused(project_copy, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("host data\n", encoding="utf-8")
    (project_copy / T1_DIR / "more").symlink_to(outside, target_is_directory=True)
    log = failed_build(project_copy, tmp_path)
    assert f"{T1_DIR}/more: is a symbolic link" in log, log[-2000:]


def test_file_whose_real_path_leaves_docs_is_refused(tmp_path):
    """The second guard (on_files): a file collected from docs/ that really lies elsewhere."""
    docs = tmp_path / "docs"
    docs.mkdir()
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x", encoding="utf-8")
    (docs / "inside.txt").write_text("x", encoding="utf-8")
    problems = safety.file_problems(docs, [str(docs / "inside.txt"), str(outside)])
    assert len(problems) == 1 and "elsewhere.txt" in problems[0] and "outside docs/" in problems[0]


# ------------------------------------------------------------------------------------- front matter
BOMB = """---
title: bomb
a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]
b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]
c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]
d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]
e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]
f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]
g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]
h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]
i: [*h, *h, *h, *h, *h, *h, *h, *h, *h]
---
"""


@pytest.mark.parametrize("rel", [T1, "docs/admin/portal.md"])
def test_yaml_alias_bomb_is_refused_at_once(project_copy, tmp_path, rel):
    path = project_copy / rel
    body = path.read_text(encoding="utf-8").split("\n---\n", 1)[1] if rel == T1 else path.read_text(encoding="utf-8")
    path.write_text(BOMB + body, encoding="utf-8")
    start = time.monotonic()
    log = failed_build(project_copy, tmp_path)
    assert time.monotonic() - start < 120, "the build took too long to refuse the alias bomb"
    assert rel in log and "anchor or alias" in log, log[-2000:]


def test_a_single_yaml_anchor_is_refused(project_copy, tmp_path):
    edit(project_copy, T1, r"^  time: (\d+)$", r"  time: &t 30")
    log = failed_build(project_copy, tmp_path)
    assert T1 in log and "anchor or alias" in log and "line" in log, log[-2000:]


def test_oversized_front_matter_is_refused(project_copy, tmp_path):
    edit(project_copy, T1, r"^title: ", "padding: '" + "x" * 20_000 + "'\ntitle: ")
    log = failed_build(project_copy, tmp_path)
    assert T1 in log and "front matter is" in log and "bytes" in log, log[-2000:]


# -------------------------------------------------------------------------------------- page bodies
@pytest.mark.parametrize("markup, rule", [
    ('<script>alert(document.domain)</script>', "raw <script> element"),
    ('<img src="x.png" alt="" onerror="alert(1)">', "inline event handler onerror="),
    ('[click me](javascript:alert(1))', "javascript: URL in href="),
    ('<a href=" JaVa&#83;cript:alert(1)">x</a>', "javascript: URL in href="),
    ('<iframe src="https://example.com/"></iframe>', "raw <iframe> element"),
])
def test_unsafe_html_in_a_page_body_is_refused(project_copy, tmp_path, markup, rule):
    append(project_copy, T1_EN, f"\n\n{markup}\n")
    log = failed_build(project_copy, tmp_path)
    assert T1_EN in log and rule in log, log[-2000:]
    assert re.search(re.escape(T1_EN) + r" \(line \d+\)", log), "the line of the source should be named"


def test_html_that_only_shows_code_is_allowed():
    """A code block that shows a script (escaped by Markdown) is not a script."""
    html = '<pre><code>&lt;script&gt;alert(1)&lt;/script&gt; onclick="x"</code></pre><p>on the login node</p>'
    assert safety.body_problems(html, "docs/x.md") == []


def test_oversized_page_is_refused(project_copy, tmp_path):
    append(project_copy, T1, "\n\n" + ("这一段只是为了让页面变大。" * 40 + "\n\n") * 200)
    log = failed_build(project_copy, tmp_path)
    assert T1 in log and f"at most {safety.PAGE_SOURCE_MAX} bytes" in log, log[-2000:]


def test_oversized_rendered_page_is_refused():
    html = "<p>" + "x" * (safety.PAGE_HTML_MAX + 1) + "</p>"
    (problem,) = safety.body_problems(html, "docs/x.md")
    assert "docs/x.md" in problem and f"at most {safety.PAGE_HTML_MAX}" in problem


# ---------------------------------------------------------------------------------- upstream paths
@pytest.mark.parametrize("bad", ["../../outside/x.md", "/etc/cron.d/x.md", "a//b.md", "a/./b.md", "C:\\\\x.md"])
def test_upstream_path_outside_the_site_is_refused(project_copy, tmp_path, bad):
    edit(project_copy, "mkdocs.yml", r"^    1: Tutorial1_regression/tutorial1\.md$", f'    1: "{bad}"')
    log = failed_build(project_copy, tmp_path)
    assert "extra.upstream_paths.1" in log and "plain relative path inside the site" in log, log[-2000:]
    assert not (tmp_path / "outside").exists()


def test_upstream_paths_of_the_project_are_plain():
    from conftest import load_config_for_tests

    assert safety.upstream_path_problems(load_config_for_tests().extra["upstream_paths"]) == []


# --------------------------------------------------------------------------------------------- slugs
@pytest.mark.parametrize("slug", ["15-数据集", "15-a..b", "15-Bad_Slug"])
def test_bad_slug_names_the_slug_rule(project_copy, tmp_path, slug):
    folder = project_copy / "docs" / "tutorials" / slug
    folder.mkdir()
    (folder / "index.md").write_text("---\ntitle: x\n---\n\n正文。\n", encoding="utf-8")
    log = failed_build(project_copy, tmp_path)
    assert f"docs/tutorials/{slug}: a tutorial folder is named NN-slug" in log, log[-2000:]
    assert "no English translation" not in log


# ---------------------------------------------------------------------------------------- the card
def test_card_fields_are_escaped(project_copy, tmp_path):
    for rel in (T1, T1_EN):
        edit(project_copy, rel, r"^  model: .*$", '  model: "<img src=x onerror=alert(1)>MLP"')
        edit(project_copy, rel, r"^  goal: .*$", '  goal: "<b>bold</b> & <script>alert(2)</script>"')
    site = tmp_path / "out"
    result = mkdocs_build(site, project_copy)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    for page in (site / "tutorials/01-house-prices/index.html", site / "en/tutorials/01-house-prices/index.html"):
        card = re.search(r'<section class="tutorial-card".*?</section>', page.read_text(encoding="utf-8"), re.S)
        assert card, f"no card in {page}"
        assert "&lt;img src=x onerror=alert(1)&gt;MLP" in card.group(0)
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; &lt;script&gt;" in card.group(0)
        assert "<img src=x" not in card.group(0) and "<script>" not in card.group(0)


def test_markup_in_a_title_is_refused(project_copy, tmp_path):
    edit(project_copy, T1_EN, r"^title: (.*)$", 'title: "Tutorial 1 <img src=x onerror=alert(1)>"')
    log = failed_build(project_copy, tmp_path)
    assert T1_EN in log and "title" in log and "plain text" in log, log[-2000:]


# ------------------------------------------------------------------------------- CSP and .gz files
def test_csp_include_lists_the_hash_of_every_inline_script(built):
    conf = (built.site / safety.CSP_FILE).read_text(encoding="utf-8")
    (policy,) = re.findall(r'^add_header Content-Security-Policy "([^"]+)" always;$', conf, re.M)
    directives = dict(d.split(" ", 1) for d in policy.split("; "))
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert directives["base-uri"] == "'self'" and directives["default-src"] == "'self'"
    assert 'add_header X-Frame-Options "DENY" always;' in conf
    allowed = set(directives["script-src"].split()[1:])
    emitted = set()
    for page in built.html_files():
        for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", page.read_text(encoding="utf-8"), re.S):
            if "src=" not in attrs and "application/json" not in attrs:
                emitted.add("'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'")
    assert emitted and emitted == allowed, (emitted ^ allowed)


def test_pages_carry_one_inline_script_the_token_scrub(built):
    """Material's page scripts come from docs/assets/site.js; only the token scrub stays inline (it must run
    before anything loads), the same on every page: one hash whatever the depth."""
    bodies = set()
    for lang, path in (("zh", ""), ("en", ""), ("zh", "tutorials/01-house-prices"), ("en", "admin/portal")):
        html = built.page(lang, path).read_text(encoding="utf-8")
        inline = [b for a, b in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
                  if "src=" not in a and "application/json" not in a]
        assert len(inline) == 1 and "history.replaceState" in inline[0], (lang, path, len(inline))
        bodies.add(inline[0])
        assert html.count('assets/site.js" data-run=') == 3
    assert len(bodies) == 1


def test_frame_ancestors_setting(project_copy, tmp_path):
    site = tmp_path / "out"
    result = mkdocs_build(site, project_copy, FRAME_ANCESTORS="https://hpc.example.edu.cn")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    conf = (site / safety.CSP_FILE).read_text(encoding="utf-8")
    assert "; frame-ancestors https://hpc.example.edu.cn\" always;" in conf, conf[-500:]
    assert "add_header X-Frame-Options" not in conf, "X-Frame-Options cannot allow one origin: leave it out"
    log = failed_build(project_copy, tmp_path / "bad", FRAME_ANCESTORS="https://x.cn; script-src *")
    assert "FRAME_ANCESTORS" in log and "is not an origin" in log


def test_text_files_are_precompressed(built):
    checked = 0
    for rel in ("index.html", "en/tutorials/01-house-prices/index.html", "search/search_index.json",
                "en/search/search_index.json", "assets/extra.css", "assets/site.js", "tutorials.json",
                "tutorials/01-house-prices/train.py"):
        plain = built.site / rel
        packed = plain.with_name(plain.name + ".gz")
        assert packed.is_file(), f"no {rel}.gz"
        assert gzip.decompress(packed.read_bytes()) == plain.read_bytes(), f"{rel}.gz is stale"
        checked += 1
    assert not list(built.site.rglob("*.png.gz")), "images are compressed already"
    assert checked == 8


# ------------------------------------------------------------------------------------------ SITE_URL
@pytest.mark.parametrize("target", ["build", "bundle"])
def test_make_refuses_to_build_for_deployment_without_site_url(target):
    env = {k: v for k, v in os.environ.items() if k not in ("SITE_URL", "MAKEFLAGS", "MAKELEVEL")}
    result = subprocess.run(["make", "-s", target], check=False, cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "SITE_URL" in result.stderr and "SITE_URL=https://" in result.stderr, result.stderr
