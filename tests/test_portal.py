"""What the build publishes for portals and old links: tutorials.json, redirects, ready-to-paste YAML."""

from __future__ import annotations

import json
import re

import yaml
from bs4 import BeautifulSoup
from mkdocs.config import load_config

from conftest import LANGS, ROOT, SITE_URL, registry, tutorial_dirs



def test_tutorials_json_matches_the_tutorials(built):
    data = json.loads((built.site / "tutorials.json").read_text(encoding="utf-8"))
    assert data["schema"] == 1 and data["languages"] == list(LANGS)
    tutorials = registry()
    assert [t["number"] for t in data["tutorials"]] == list(tutorials)
    for entry, tutorial in zip(data["tutorials"], tutorials.values()):
        assert entry["slug"] == tutorial.slug
        assert entry["verified"] == {k: tutorial.card["zh"]["verified"][k] for k in ("ci", "slurm", "gpu")}
        for lang in LANGS:
            assert entry["title"][lang] == tutorial.meta[lang]["title"]
            assert entry["url"][lang] == SITE_URL + entry["path"][lang]
            page = built.site / entry["path"][lang] / "index.html"
            assert page.exists(), f"tutorials.json points to a page that was not built: {entry['path'][lang]}"
        assert entry["platform"] in ("hpc", "ai", "both")
        assert set(entry["resources"]) == {"nodes", "gpus_per_node"}
        assert isinstance(entry["time_minutes"], int) and entry["tags"]
        assert entry["section"] in entry["tags"] and entry["platform"] in entry["tags"]


def test_upstream_paths_redirect_to_the_new_pages(built):
    upstream = load_config(str(ROOT / "mkdocs.yml"))["extra"]["upstream_paths"]
    assert len(upstream) == 15, "extra.upstream_paths should list all 15 upstream tutorials"
    existing = {int(d.name[:2]): d.name for d in tutorial_dirs()}
    for number, old in upstream.items():
        stem = old[: -len(".md")]
        pages = [built.site / stem / "index.html", built.site / f"{stem}.html"]
        if int(number) not in existing:
            assert not any(p.exists() for p in pages), f"redirect written for unwritten tutorial {number}"
            continue
        for page in pages:
            assert page.exists(), f"no redirect page at {page.relative_to(built.site)}"
            soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
            target = soup.select_one('meta[http-equiv="refresh"]')["content"].split("url=", 1)[1]
            resolved = (page.parent / target / "index.html").resolve()
            expected = (built.site / "tutorials" / existing[int(number)] / "index.html").resolve()
            assert resolved == expected, f"{old} redirects to {target}, not to tutorial {number}"


def test_portal_yaml_is_valid_and_links_to_built_pages(built):
    for lang in LANGS:
        page = built.page(lang, "admin/portal")
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        blocks = [div.find("code").get_text() for div in soup.select("article div.language-yaml")]
        docs = [yaml.safe_load(b) for b in blocks]
        nav = next(d for d in docs if d and "navLinks" in d)["navLinks"]
        user = next(d for d in docs if d and "userLinks" in d)["userLinks"]
        children = nav[0]["children"]
        assert len(children) == len(tutorial_dirs()), f"{lang}: one navLinks child per tutorial"
        for link in [nav[0], *children, *user]:
            assert set(link) <= {"text", "url", "openInNewPage", "iconPath", "children"}
            assert link["text"] and link["url"].startswith(SITE_URL)
            target = built.site / link["url"][len(SITE_URL):] / "index.html"
            assert target.exists(), f"{lang}: portal link {link['url']} has no page"
            if lang == "en":
                assert "/en/" in link["url"]
            assert not re.search(r"[?#]", link["url"]), "SCOW appends ?token=...: give plain URLs"


def test_readme_portal_example_links_exist(built):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "navLinks:" in b]
    examples = [b for b in blocks if isinstance(b, dict) and "navLinks" in b]
    assert examples, "README.md shows no navLinks example"
    base = "https://hpc.example.edu.cn/tutorial/"
    for nav in examples:
        for link in [nav["navLinks"][0], *nav["navLinks"][0].get("children", [])]:
            assert link["url"].startswith(base)
            path = link["url"][len(base):]
            assert (built.site / path / "index.html").exists(), f"README links to {path}, which is not built"


def test_admin_page_warns_about_query_strings_and_names_every_navlinks_file():
    """Issue 22: SCOW concatenates ?token= (a second '?' when the URL has one); mis.yaml takes navLinks too."""
    for name in ("portal.md", "portal.en.md"):
        text = (ROOT / "docs" / "admin" / name).read_text(encoding="utf-8")
        assert "?lang=en?token=<token>" in text, name
        for config in ("config/portal.yaml", "config/ai.yaml", "config/mis.yaml", "config/common.yaml"):
            assert config in text, (name, config)
