"""Build hook: what the site publishes about its tutorials, all read from the registry
(``scow_tutorials.registry``).

* the home page's ``<!-- tutorial-catalog -->`` marker becomes a catalog of the tutorials that exist;
* the admin page's ``<!-- portal-links-yaml -->`` marker becomes ready-to-paste SCOW navLinks/userLinks YAML;
* after the last language is built: ``tutorials.json`` (a machine-readable catalog for portals and scripts)
  and redirect pages from the upstream series' paths (``extra.upstream_paths``) to the tutorials that exist.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from scow_tutorials import registry
from scow_tutorials.registry import DEFAULT_LANG, LANGS, STATE
from scow_tutorials.schema import FIELDS, catalog_fields
from scow_tutorials.text import TEXT, resources_text

CATALOG_MARKER = "<!-- tutorial-catalog -->"
PORTAL_MARKER = "<!-- portal-links-yaml -->"


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    lang = "en" if page.file.src_uri.endswith(".en.md") else DEFAULT_LANG
    if CATALOG_MARKER in markdown:
        markdown = markdown.replace(CATALOG_MARKER, catalog_markdown(config, lang))
    if PORTAL_MARKER in markdown:
        markdown = markdown.replace(PORTAL_MARKER, portal_links_yaml(config, lang))
    return markdown


def catalog_markdown(config: MkDocsConfig, lang: str) -> str:
    """One table per section: number, title and description, then a column per field declared ``catalog``."""
    t = TEXT[lang]
    columns = catalog_fields()
    head = [t["catalog_number"], t["catalog_tutorial"]] + [f.label[lang] for f in columns]
    by_section: dict[str, list] = {}
    for tutorial in registry.current().values():
        by_section.setdefault(tutorial.card[lang]["section"], []).append(tutorial)
    out = []
    for section in config.extra.get("sections", []):
        entries = by_section.get(section["id"])
        if not entries:
            continue
        out += [f"### {section[lang]} {{#catalog-{section['id']}}}\n", "| " + " | ".join(head) + " |",
                "|" + "---|" * len(head)]
        for tutorial in entries:
            meta, card = tutorial.meta[lang], tutorial.card[lang]
            cells = [str(card["number"]), f"[{meta['title']}]({tutorial.src['zh']})<br>{meta['description']}"]
            cells += [str(f.shown(card[f.name], lang)) for f in columns]
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def portal_links_yaml(config: MkDocsConfig, lang: str) -> str:
    """Ready-to-paste SCOW navLinks / userLinks blocks with one stable deep link per tutorial."""
    base = (config.site_url or "/").rstrip("/") + "/"
    prefix = "" if lang == DEFAULT_LANG else f"{lang}/"
    home = {"zh": "AI 教程", "en": "AI tutorials"}[lang]
    nav = ["navLinks:", f'  - text: "{home}"', f'    url: "{base}{prefix}"', "    openInNewPage: true",
           "    children:"]
    for tutorial in registry.current().values():
        title = tutorial.meta[lang]["title"].replace('"', '\\"')
        nav += [f'      - text: "{title}"', f'        url: "{base}{prefix}{tutorial.path}"',
                "        openInNewPage: true"]
    user = ["userLinks:", f'  - text: "{home}"', f'    url: "{base}{prefix}"', "    openInNewPage: true"]
    where = "config/portal.yaml 或 config/ai.yaml" if lang == "zh" else "config/portal.yaml or config/ai.yaml"
    return (f'```yaml title="{where}"\n' + "\n".join(nav) + "\n```\n\n"
            + '```yaml title="config/common.yaml"\n' + "\n".join(user) + "\n```\n")


def catalog_json(config: MkDocsConfig) -> dict[str, Any]:
    base = (config.site_url or "/").rstrip("/") + "/"
    entries = []
    for number, tutorial in registry.current().items():
        card, res = tutorial.card["zh"], tutorial.card["zh"]["resources"]
        tags = [card["section"], card["platform"], "gpu" if res["gpus"] else "cpu-only"]
        if res["nodes"] > 1:
            tags.append("multi-node")
        elif res["gpus"] > 1:
            tags.append("multi-gpu")
        paths = {"zh": tutorial.path, "en": f"en/{tutorial.path}"}
        entries.append({
            "number": number,
            "slug": tutorial.slug,
            "section": card["section"],
            "title": {lang: tutorial.meta[lang]["title"] for lang in LANGS},
            "description": {lang: tutorial.meta[lang]["description"] for lang in LANGS},
            "path": paths,
            "url": {lang: base + paths[lang] for lang in LANGS},
            "platform": card["platform"],
            "resources": {"nodes": res["nodes"], "gpus_per_node": res["gpus"]},
            "resources_text": {lang: resources_text(res, lang) for lang in LANGS},
            "time_minutes": card["time"],
            "prerequisites": card["prerequisites"],
            "image": card["image"],
            "verified": {k: card["verified"][k] for k in ("ci", "slurm", "gpu")},
            "tags": tags,
        })
        for field in FIELDS:  # every other card field, as declared: shared ones once, the others per language
            if field.name not in entries[-1] and field.name not in ("number", "section"):
                entries[-1][field.name] = (card[field.name] if field.shared
                                           else {lang: tutorial.card[lang][field.name] for lang in LANGS})
    return {"schema": 1, "site_url": base, "languages": list(LANGS), "tutorials": entries}


REDIRECT_PAGE = """<!doctype html>
<html lang="zh">
<head>
<meta charset="utf-8">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="canonical" href="{target}">
<meta http-equiv="refresh" content="0; url={target}">
<script>location.replace({target_js} + location.hash);</script>
</head>
<body>
<p>本页已迁移到 <a href="{target}">{title}</a>。This page has moved to <a href="{target}">{title}</a>.</p>
</body>
</html>
"""


def write_redirects(config: MkDocsConfig, site: Path) -> None:
    tutorials = registry.current()
    for number, old in (config.extra.get("upstream_paths") or {}).items():
        tutorial = tutorials.get(int(number))
        if tutorial is None:
            continue  # tutorials not written yet get no redirect: no dead links
        title = tutorial.meta["zh"]["title"]
        target = site / tutorial.path
        old_path = PurePosixPath(old)
        stem = old_path.with_suffix("")
        for page in (stem / "index.html", stem.with_suffix(".html"), old_path.parent / "index.html"):
            out = site / page
            out.parent.mkdir(parents=True, exist_ok=True)
            rel = Path(os.path.relpath(target, out.parent)).as_posix() + "/"
            if not config.use_directory_urls:  # the offline build opens files, not folders
                rel += "index.html"
            out.write_text(REDIRECT_PAGE.format(title=html.escape(title), target=html.escape(rel),
                                                target_js=json.dumps(rel)), encoding="utf-8")


@event_priority(-200)
def on_post_build(config: MkDocsConfig) -> None:
    """After mkdocs-static-i18n (priority -100) has built the other languages into the root site."""
    if STATE["depth"] != 1:
        return
    root = Path(STATE["root_site_dir"])
    data = catalog_json(config)
    (root / "tutorials.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_redirects(config, root)
