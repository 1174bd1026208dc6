"""Build hook: what the build refuses to publish, and what it writes for the web server (scow_tutorials.safety).

* on_config: ``extra.upstream_paths`` are plain relative paths inside the site; FRAME_ANCESTORS is valid;
* on_pre_build, before the registry reads any page: no symbolic link or outside path under docs/, tutorial
  folders follow the slug rule, no page over the size limit, no front matter with YAML anchors or aliases
  or over its size limit (scow_tutorials.frontmatter);
* on_files: every file collected from docs/ really lies inside it;
* on_nav and on_page_markdown: titles and descriptions are plain text (they reach <title>, the navigation,
  the catalog and the search index unescaped);
* on_page_content: no raw <script>, event handler or javascript: URL in a page body, no oversized body;
* on_page_context: every text of the tutorial card (``page.meta.tutorial_view``) is HTML-escaped;
* after the last language is built: the nginx include with the Content-Security-Policy
  (``security-headers.conf``) and a ``.gz`` next to every text file (not for the offline bundle).
"""

from __future__ import annotations

import os
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.plugins import event_priority
from mkdocs.structure.files import Files
from mkdocs.structure.pages import Page

from scow_tutorials import registry, safety
from scow_tutorials.frontmatter import read_front_matter
from scow_tutorials.registry import STATE


def _offline(config: MkDocsConfig) -> bool:
    plugin = config.plugins.get("material/offline") or config.plugins.get("offline")
    return bool(plugin and plugin.config.enabled)


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    safety.fail(safety.upstream_path_problems(config.extra.get("upstream_paths")))
    config.extra["frame_ancestors"] = safety.frame_ancestors(os.environ.get(safety.FRAME_ANCESTORS_ENV))
    return config


@event_priority(200)  # before tutorials.py (100) reads the registry: the slug rule is named, not a symptom
def on_pre_build(config: MkDocsConfig) -> None:
    docs = Path(config.docs_dir)
    safety.fail(safety.tree_problems(docs) + safety.slug_problems(docs) + safety.size_problems(docs))
    for page in sorted(docs.rglob("*.md")):  # anchors, aliases, size: refused before MkDocs loads any page
        read_front_matter(page, f"{docs.name}/{page.relative_to(docs).as_posix()}")


def on_nav(nav, config: MkDocsConfig, files: Files):
    """Tutorial titles are plain text: checked once the registry is read, before the catalog prints them."""
    docs = Path(config.docs_dir).name
    safety.fail(
        [
            p
            for t in registry.current().values()
            for lang in registry.LANGS
            for p in safety.plain_text_problems(t.meta[lang], f"{docs}/{t.src[lang]}")
        ]
    )
    return nav


def on_files(files: Files, config: MkDocsConfig) -> Files:
    docs = os.path.realpath(config.docs_dir)
    ours = [f.abs_src_path for f in files if f.abs_src_path and os.path.realpath(f.src_dir or "") == docs]
    safety.fail(safety.file_problems(Path(config.docs_dir), ours))
    return files


@event_priority(-100)  # after tutorials.py put the tutorial's front matter into page.meta
def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    rel = f"{Path(config.docs_dir).name}/{page.file.src_uri}"
    safety.fail(safety.plain_text_problems(page.meta, rel))
    return markdown


@event_priority(-100)  # after the other hooks changed the body
def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    rel = f"{Path(config.docs_dir).name}/{page.file.src_uri}"
    source = Path(page.file.abs_src_path).read_text(encoding="utf-8") if page.file.abs_src_path else ""
    safety.fail(safety.body_problems(html, rel, source))
    return html


@event_priority(-100)  # after every hook that adds to the card
def on_page_context(context, page: Page, config: MkDocsConfig, nav):
    if page.meta.get("tutorial_view"):
        page.meta["tutorial_view"] = safety.escaped(page.meta["tutorial_view"])
    return context


@event_priority(-250)  # after catalog.py and search_split.py (-200) wrote their files, before the depth drops
def on_post_build(config: MkDocsConfig) -> None:
    if STATE["depth"] != 1 or _offline(config):
        return
    root = Path(STATE["root_site_dir"])
    safety.write_headers_include(root, config.extra["frame_ancestors"])
    safety.precompress(root)
