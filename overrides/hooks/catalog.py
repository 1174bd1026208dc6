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


GRAPH_MARKER = "<!-- tutorial-graph -->"
WORDS = {
    "zh": {
        "filters": "筛选教程",
        "platform": "平台",
        "gpus": "GPU",
        "time": "用时",
        "all": "全部",
        "gpus_0": "无需 GPU",
        "gpus_1": "单机单卡",
        "gpus_multi": "多卡或多机",
        "time_max": "{m} 分钟以内",
        "count": "显示 {shown} / {total} 篇",
        "reset": "清除筛选",
        "graph": "教程的学习路线：箭头从前置教程指向后续教程",
        "tutorial": "教程 {n}",
    },
    "en": {
        "filters": "Filter the tutorials",
        "platform": "Platform",
        "gpus": "GPUs",
        "time": "Time",
        "all": "All",
        "gpus_0": "No GPU",
        "gpus_1": "1 GPU",
        "gpus_multi": "Several GPUs or nodes",
        "time_max": "{m} min or less",
        "count": "Showing {shown} of {total}",
        "reset": "Clear filters",
        "graph": "Learning path: arrows go from a prerequisite to the tutorials that build on it",
        "tutorial": "Tutorial {n}",
    },
}
TIME_LIMITS = (30, 45, 60)


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    lang = "en" if page.file.src_uri.endswith(".en.md") else DEFAULT_LANG
    if CATALOG_MARKER in markdown:
        markdown = markdown.replace(CATALOG_MARKER, catalog_markdown(config, lang))
    if GRAPH_MARKER in markdown:
        markdown = markdown.replace(GRAPH_MARKER, graph_svg(config, lang))
    if PORTAL_MARKER in markdown:
        markdown = markdown.replace(PORTAL_MARKER, portal_links_yaml(config, lang))
    return markdown


def _href(config: MkDocsConfig, tutorial) -> str:
    """A tutorial's address from the home page of either language (raw HTML: MkDocs does not rewrite it)."""
    return tutorial.path + ("" if config.use_directory_urls else "index.html")


def _filters(lang: str) -> str:
    w = WORDS[lang]
    e = html.escape

    def select(name: str, options: list[tuple[str, str]]) -> str:
        opts = "".join(f'<option value="{v}">{e(label)}</option>' for v, label in [("", w["all"])] + options)
        return (
            f'<label class="catalog-filters__field">{e(w[name])} '
            f'<select data-filter="{name}" name="{name}">{opts}</select></label>'
        )

    platforms = [(p, TEXT[lang]["platform"][p]) for p in ("hpc", "ai")]
    gpus = [("0", w["gpus_0"]), ("1", w["gpus_1"]), ("multi", w["gpus_multi"])]
    times = [(str(m), w["time_max"].format(m=m)) for m in TIME_LIMITS]
    return (
        f'<form class="catalog-filters" aria-label="{e(w["filters"])}" hidden>'
        + select("platform", platforms)
        + select("gpus", gpus)
        + select("time", times)
        + f'<button type="reset" class="md-button catalog-filters__reset">{e(w["reset"])}</button>'
        + f'<output class="catalog-filters__count" data-template="{e(w["count"])}" aria-live="polite"></output>'
        + "</form>"
    )


def catalog_markdown(config: MkDocsConfig, lang: str) -> str:
    """The tutorials by section, each a card: number and title (linked), one line with the value of every
    field declared ``catalog`` in the schema, and the description. The data attributes feed the filters
    (docs/assets/catalog.js), which the page shows only when the script runs."""
    e = html.escape
    columns = catalog_fields()
    by_section: dict[str, list] = {}
    for tutorial in registry.current().values():
        by_section.setdefault(tutorial.card[lang]["section"], []).append(tutorial)
    out = ['<div class="catalog" markdown>', "", _filters(lang), ""]
    for section in config.extra.get("sections", []):
        entries = by_section.get(section["id"])
        if not entries:
            continue
        out += [
            '<div class="catalog-section" markdown>',
            "",
            f"### {section[lang]} {{#catalog-{section['id']}}}",
            "",
            '<ul class="catalog-items">',
        ]
        for tutorial in entries:
            meta, card = tutorial.meta[lang], tutorial.card[lang]
            res = card["resources"]
            # One row per item: each catalog field's label (read by screen readers, hidden on screen) and value.
            facts = "".join(
                f'<th>{e(f.label_in(lang))}</th><td data-field="{f.name}">{e(str(f.shown(card[f.name], lang)))}</td>'
                for f in columns
            )
            out.append(
                f'<li class="catalog-item" data-number="{card["number"]}" data-platform="{card["platform"]}" '
                f'data-gpus="{res["gpus"]}" data-nodes="{res["nodes"]}" data-time="{card["time"]}">'
                f'<a class="catalog-item__title" href="{_href(config, tutorial)}">{e(meta["title"])}</a>'
                f'<table class="catalog-item__facts"><tr>{facts}</tr></table>'
                f'<span class="catalog-item__desc">{e(meta["description"])}</span></li>'
            )
        out += ["</ul>", "", "</div>", ""]
    out += ["</div>", ""]
    return "\n".join(out)


def graph_layers(tutorials: dict) -> dict[int, int]:
    """Number -> column of the prerequisite graph: the length of the longest chain of prerequisites."""
    depth: dict[int, int] = {}

    def walk(number: int, seen: tuple = ()) -> int:
        if number not in depth:
            prereqs = [p for p in tutorials[number].card["zh"]["prerequisites"] if p in tutorials and p not in seen]
            depth[number] = 1 + max((walk(p, seen + (number,)) for p in prereqs), default=-1)
        return depth[number]

    for number in tutorials:
        walk(number)
    return depth


def graph_svg(config: MkDocsConfig, lang: str) -> str:
    """The prerequisite graph, drawn from the cards: one column per depth, a box per tutorial (linked, coloured
    by platform), an arrow from each prerequisite. Colours come from extra.css, so both palettes work."""
    e = html.escape
    w = WORDS[lang]
    tutorials = registry.current()
    layers = graph_layers(tutorials)
    box_w, box_h, col_w, row_h, pad = 96, 30, 136, 40, 6
    columns: dict[int, list[int]] = {}
    for number in sorted(tutorials):
        columns.setdefault(layers[number], []).append(number)
    rows = max((len(c) for c in columns.values()), default=0)
    width = pad * 2 + (len(columns) - 1) * col_w + box_w
    height = pad * 2 + rows * row_h - (row_h - box_h)
    where = {}
    for col, numbers in columns.items():
        top = pad + (rows - len(numbers)) * row_h / 2
        for i, number in enumerate(numbers):
            where[number] = (pad + col * col_w, top + i * row_h)
    edges, nodes = [], []
    for number, tutorial in tutorials.items():
        x2, y2 = where[number]
        for p in tutorial.card["zh"]["prerequisites"]:
            if p not in where:
                continue
            x1, y1 = where[p]
            a, b = (x1 + box_w, y1 + box_h / 2), (x2 - 3, y2 + box_h / 2)
            mid = (a[0] + b[0]) / 2
            edges.append(
                f'<path class="graph__edge" d="M{a[0]:.0f} {a[1]:.0f}C{mid:.0f} {a[1]:.0f} {mid:.0f} '
                f'{b[1]:.0f} {b[0]:.0f} {b[1]:.0f}" marker-end="url(#graph-arrow-{lang})"/>'
            )
        x, y = where[number]
        title = tutorial.meta[lang]["title"]
        nodes.append(
            f'<a href="{_href(config, tutorial)}" aria-label="{e(title)}"><title>{e(title)}</title>'
            f'<rect class="graph__node graph__node--{tutorial.card[lang]["platform"]}" x="{x}" y="{y:.0f}" '
            f'width="{box_w}" height="{box_h}" rx="4"/><text x="{x + box_w / 2:.0f}" y="{y + 20:.0f}" '
            f'text-anchor="middle">{e(w["tutorial"].format(n=number))}</text></a>'
        )
    return (
        f'<svg class="prerequisite-graph" viewBox="0 0 {width} {height:.0f}" width="{width}" height="{height:.0f}" '
        f'aria-labelledby="graph-title-{lang}"><title id="graph-title-{lang}">{e(w["graph"])}</title>'
        f'<defs><marker id="graph-arrow-{lang}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" '
        f'markerHeight="6" orient="auto"><path class="graph__arrow" d="M0 0L10 5L0 10z"/></marker></defs>'
        + "".join(edges)
        + "".join(nodes)
        + "</svg>\n"
    )


def portal_links_yaml(config: MkDocsConfig, lang: str) -> str:
    """Ready-to-paste SCOW navLinks / userLinks blocks with one stable deep link per tutorial."""
    base = (config.site_url or "/").rstrip("/") + "/"
    prefix = "" if lang == DEFAULT_LANG else f"{lang}/"
    home = {"zh": "AI 教程", "en": "AI tutorials"}[lang]
    nav = ["navLinks:", f'  - text: "{home}"', f'    url: "{base}{prefix}"', "    openInNewPage: true", "    children:"]
    for tutorial in registry.current().values():
        title = tutorial.meta[lang]["title"].replace('"', '\\"')
        nav += [
            f'      - text: "{title}"',
            f'        url: "{base}{prefix}{tutorial.path}"',
            "        openInNewPage: true",
        ]
    user = ["userLinks:", f'  - text: "{home}"', f'    url: "{base}{prefix}"', "    openInNewPage: true"]
    where = "config/portal.yaml 或 config/ai.yaml" if lang == "zh" else "config/portal.yaml or config/ai.yaml"
    return (
        f'```yaml title="{where}"\n'
        + "\n".join(nav)
        + "\n```\n\n"
        + '```yaml title="config/common.yaml"\n'
        + "\n".join(user)
        + "\n```\n"
    )


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
        entries.append(
            {
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
            }
        )
        for field in FIELDS:  # every other card field, as declared: shared ones once, the others per language
            if field.name not in entries[-1] and field.name not in ("number", "section"):
                entries[-1][field.name] = (
                    card[field.name] if field.shared else {lang: tutorial.card[lang][field.name] for lang in LANGS}
                )
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
<script>location.replace(document.querySelector('link[rel="canonical"]').getAttribute("href") + location.hash);</script>
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
            # One script for every redirect page (it reads the canonical link): one hash in the CSP.
            out.write_text(REDIRECT_PAGE.format(title=html.escape(title), target=html.escape(rel)), encoding="utf-8")


@event_priority(-200)
def on_post_build(config: MkDocsConfig) -> None:
    """After mkdocs-static-i18n (priority -100) has built the other languages into the root site."""
    if STATE["depth"] != 1:
        return
    root = Path(STATE["root_site_dir"])
    data = catalog_json(config)
    (root / "tutorials.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_redirects(config, root)
