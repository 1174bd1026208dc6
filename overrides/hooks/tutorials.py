"""MkDocs build hook of the SCOW AI tutorials site.

It keeps the tutorial pages honest at build time:

* every Markdown page exists in both languages (``page.md`` + ``page.en.md``);
* the front matter parses, and a tutorial's card (``tutorial:``) follows one schema;
* ``{{ facts.KEY }}`` and ``{{ files_url }}`` in page Markdown are substituted from ``extra.facts``
  (an unknown key fails the build);
* the home page's ``<!-- tutorial-catalog -->`` marker becomes a catalog of the tutorials that exist;
* the admin page's ``<!-- portal-links-yaml -->`` marker becomes ready-to-paste SCOW navLinks/userLinks YAML;
* the build writes ``tutorials.json``, a machine-readable catalog for portals and scripts, redirect pages
  from the upstream series' paths (``extra.upstream_paths``) to the tutorials that exist, and one search
  index per language;
* line breaks inside Chinese paragraphs do not turn into visible spaces.

Every failure names the file, the field and the fix. Only public MkDocs hook events and ``File``/``Page``
attributes are used, so the hook also runs under drop-in MkDocs 1.x forks. It relies on one documented
behaviour of mkdocs-static-i18n: the other languages are built inside the default language's
``on_post_build``, which is why ``on_post_build`` below counts nested builds.
"""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
TUTORIAL_RE = re.compile(r"^tutorials/(\d\d)-[a-z0-9]+(?:-[a-z0-9]+)*/index(?:\.en)?\.md$")
FRONT_MATTER_RE = re.compile(r"\A---[ \t]*\n(.*?\n)?(?:---|\.\.\.)[ \t]*\n", re.S)
PLACEHOLDER_RE = re.compile(r"\{\{\s*(facts(?:\.[A-Za-z0-9_]+)+|files_url)\s*\}\}")
CJK = "\u3000-\u303f\u4e00-\u9fff\uff00-\uffef"
# A line break inside a Chinese paragraph must not become a visible space (browsers other than Firefox
# render it as one), so the hook joins lines whose neighbouring characters are both CJK.
CJK_BREAK = re.compile(rf"(?<=[{CJK}])\n(?=[{CJK}])")
PRE_BLOCK = re.compile(r"(<pre[\s\S]*?</pre>)")
CATALOG_MARKER = "<!-- tutorial-catalog -->"
PORTAL_MARKER = "<!-- portal-links-yaml -->"

# Fields of the tutorial card that must be identical in both languages.
SHARED_FIELDS = ("number", "section", "platform", "image", "resources", "time", "prerequisites")
SHARED_VERIFIED = ("ci", "slurm", "gpu")

TEXT = {
    "zh": {
        "platform": {"hpc": "超算平台", "ai": "智算平台", "both": "超算平台 + 智算平台"},
        "no_gpu": "无需 GPU",
        "one_node": {1: "单机单卡"},
        "one_node_n": "单机 {g} 卡",
        "multi_node": "{n} 机 × 每机 {g} 卡",
        "minutes": "约 {m} 分钟",
        "tutorial": "教程 {n}",
        "none": "无",
        "labels": {
            "platform": "平台", "image": "镜像", "model": "模型", "dataset": "数据集",
            "resources": "资源", "time": "预计用时", "prerequisites": "前置教程", "goal": "目标",
            "references": "参考资料", "card": "教程信息",
        },
        "catalog_head": "| 编号 | 教程 | 平台 | 资源 | 预计用时 |",
    },
    "en": {
        "platform": {"hpc": "HPC platform", "ai": "AI platform", "both": "HPC platform + AI platform"},
        "no_gpu": "No GPU needed",
        "one_node": {1: "1 node × 1 GPU"},
        "one_node_n": "1 node × {g} GPUs",
        "multi_node": "{n} nodes × {g} GPUs",
        "minutes": "about {m} min",
        "tutorial": "Tutorial {n}",
        "none": "None",
        "labels": {
            "platform": "Platform", "image": "Image", "model": "Model", "dataset": "Dataset",
            "resources": "Resources", "time": "Estimated time", "prerequisites": "Prerequisites",
            "goal": "Goal", "references": "References", "card": "Tutorial card",
        },
        "catalog_head": "| No. | Tutorial | Platform | Resources | Time |",
    },
}

_state: dict[str, Any] = {"git_dates": {}}


class FrontMatterError(PluginError):
    """A page's front matter is malformed or breaks the tutorial schema."""


# --------------------------------------------------------------------------------------------- helpers
def page_lang(src_uri: str) -> str:
    return "en" if src_uri.endswith(".en.md") else DEFAULT_LANG


def read_front_matter(path: Path, rel: str) -> dict[str, Any]:
    """Parse the YAML front matter of ``path`` strictly (MkDocs itself ignores broken YAML)."""
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---"):
        return {}
    match = FRONT_MATTER_RE.match(text)
    if not match:
        raise FrontMatterError(
            f"{rel}: the front matter starts with '---' but has no closing '---' line. "
            "Close the YAML block with a line holding only '---'."
        )
    try:
        data = yaml.safe_load(match.group(1) or "") or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise FrontMatterError(
            f"{rel}: the front matter is not valid YAML{where}: {problem}. "
            "Fix the YAML block at the top of the file (quote values that contain ':' or '#')."
        ) from None
    if not isinstance(data, dict):
        raise FrontMatterError(f"{rel}: the front matter must be a YAML mapping (key: value lines).")
    return data


def lookup_fact(facts: dict[str, Any], dotted: str, rel: str) -> Any:
    value: Any = {"facts": facts}
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            known = ", ".join(sorted(_flatten(facts)))
            raise PluginError(
                f"{rel}: unknown fact '{{{{ {dotted} }}}}'. Define it under extra.facts in mkdocs.yml "
                f"or use one of: {known}."
            )
        value = value[part]
    if isinstance(value, dict):
        raise PluginError(f"{rel}: '{{{{ {dotted} }}}}' names a group of facts, not one value.")
    return value


def _flatten(tree: dict[str, Any], prefix: str = "facts") -> list[str]:
    keys: list[str] = []
    for key, value in tree.items():
        if isinstance(value, dict):
            keys += _flatten(value, f"{prefix}.{key}")
        else:
            keys.append(f"{prefix}.{key}")
    return keys


def files_url(config, src_uri: str) -> str:
    base = (config.site_url or "/").rstrip("/") + "/"
    folder = PurePosixPath(src_uri).parent.as_posix()
    return base if folder == "." else f"{base}{folder}/"


def substitute(text: str, config, src_uri: str, rel: str) -> str:
    facts = config.extra.get("facts", {})

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "files_url":
            return files_url(config, src_uri)
        return str(lookup_fact(facts, name, rel))

    return PLACEHOLDER_RE.sub(replace, text)


def resolve_values(value: Any, config, src_uri: str, rel: str) -> Any:
    if isinstance(value, str):
        return substitute(value, config, src_uri, rel)
    if isinstance(value, list):
        return [resolve_values(v, config, src_uri, rel) for v in value]
    if isinstance(value, dict):
        return {k: resolve_values(v, config, src_uri, rel) for k, v in value.items()}
    return value


# ---------------------------------------------------------------------------------------------- schema
def _fail(rel: str, field: str, got: Any, expected: str) -> None:
    shown = "missing" if got is _MISSING else f"got {got!r}"
    raise FrontMatterError(
        f"{rel}: front matter field '{field}': {shown}; expected {expected}. "
        "Fix the YAML block at the top of the file (fields: see README.md, 'Add a tutorial')."
    )


_MISSING = object()


def _text(rel, field, value, *, optional=False, min_len=1, max_len=400):
    if value is None and optional:
        return
    if not isinstance(value, str) or not (min_len <= len(value.strip()) <= max_len):
        kind = "text or null" if optional else "text"
        _fail(rel, field, value, f"{kind} of {min_len} to {max_len} characters")


def _int(rel, field, value, low, high):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        _fail(rel, field, value, f"an integer from {low} to {high}")


def validate(meta: dict[str, Any], rel: str, src_uri: str, sections: list[str]) -> dict[str, Any]:
    """Check a tutorial page's front matter; return its ``tutorial`` card."""
    _text(rel, "title", meta.get("title", _MISSING), max_len=80)
    _text(rel, "description", meta.get("description", _MISSING), min_len=20, max_len=200)
    card = meta.get("tutorial", _MISSING)
    if not isinstance(card, dict):
        _fail(rel, "tutorial", card, "a mapping with the tutorial card (number, section, platform, ...)")
    allowed = {"number", "section", "platform", "image", "model", "dataset", "resources", "time",
               "prerequisites", "goal", "references", "verified"}
    for key in card:
        if key not in allowed:
            _fail(rel, f"tutorial.{key}", card[key], f"no such field; allowed fields: {', '.join(sorted(allowed))}")
    for key in sorted(allowed):
        if key not in card:
            _fail(rel, f"tutorial.{key}", _MISSING, "a value (use null for image/model/dataset if none)")

    _int(rel, "tutorial.number", card["number"], 0, 14)
    folder_number = int(TUTORIAL_RE.match(src_uri).group(1))
    if card["number"] != folder_number:
        _fail(rel, "tutorial.number", card["number"], f"{folder_number}, the number in the folder name")
    if card["section"] not in sections:
        _fail(rel, "tutorial.section", card["section"], "one of " + ", ".join(sections))
    if card["platform"] not in ("hpc", "ai", "both"):
        _fail(rel, "tutorial.platform", card["platform"], "one of hpc, ai, both")
    for key in ("image", "model", "dataset"):
        _text(rel, f"tutorial.{key}", card[key], optional=True, max_len=200)
    res = card["resources"]
    if not isinstance(res, dict) or set(res) != {"nodes", "gpus"}:
        _fail(rel, "tutorial.resources", res, "a mapping {nodes: N, gpus: M} (gpus per node, 0 = none)")
    _int(rel, "tutorial.resources.nodes", res["nodes"], 1, 64)
    _int(rel, "tutorial.resources.gpus", res["gpus"], 0, 16)
    _int(rel, "tutorial.time", card["time"], 1, 24 * 60)
    prereq = card["prerequisites"]
    if not isinstance(prereq, list):
        _fail(rel, "tutorial.prerequisites", prereq, "a list of tutorial numbers, [] if none")
    for i, number in enumerate(prereq):
        _int(rel, f"tutorial.prerequisites[{i}]", number, 0, 14)
        if number == card["number"]:
            _fail(rel, f"tutorial.prerequisites[{i}]", number, "another tutorial's number, not this one's")
    _text(rel, "tutorial.goal", card["goal"], max_len=300)
    refs = card["references"]
    if not isinstance(refs, list) or not refs:
        _fail(rel, "tutorial.references", refs, "a non-empty list of {title, url}")
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict) or set(ref) != {"title", "url"}:
            _fail(rel, f"tutorial.references[{i}]", ref, "a mapping {title: ..., url: https://...}")
        _text(rel, f"tutorial.references[{i}].title", ref["title"], max_len=120)
        if not isinstance(ref["url"], str) or not re.match(r"^https?://[^\s/]+\.[^\s]+$", ref["url"]):
            _fail(rel, f"tutorial.references[{i}].url", ref["url"], "an absolute http(s) URL")
    ver = card["verified"]
    if not isinstance(ver, dict) or not {"ci", "slurm", "gpu"} <= set(ver) <= {"ci", "slurm", "gpu", "note"}:
        _fail(rel, "tutorial.verified", ver, "a mapping {ci: [files], slurm: [files], gpu: null, note: text}")
    for key in ("ci", "slurm"):
        if not isinstance(ver[key], list) or not all(isinstance(f, str) for f in ver[key]):
            _fail(rel, f"tutorial.verified.{key}", ver[key], "a list of published file names, [] if none")
    if ver["gpu"] is not None and (not isinstance(ver["gpu"], dict)
                                   or set(ver["gpu"]) != {"date", "hardware", "record"}):
        _fail(rel, "tutorial.verified.gpu", ver["gpu"],
              "null, or {date, hardware, record: a published file with the run's output}")
    _text(rel, "tutorial.verified.note", ver.get("note"), optional=True, max_len=200)
    return card


# ------------------------------------------------------------------------------------------- rendering
def resources_text(res: dict[str, int], lang: str) -> str:
    t = TEXT[lang]
    nodes, gpus = res["nodes"], res["gpus"]
    if gpus == 0:
        return t["no_gpu"] if nodes == 1 else t["multi_node"].format(n=nodes, g=0)
    if nodes == 1:
        return t["one_node"].get(gpus) or t["one_node_n"].format(g=gpus)
    return t["multi_node"].format(n=nodes, g=gpus)


def tutorial_pages(files) -> dict[int, Any]:
    """The tutorial pages of the current build (one language), by number."""
    found = {}
    for file in files.documentation_pages():
        match = TUTORIAL_RE.match(file.src_uri)
        if match:
            found[int(match.group(1))] = file
    return dict(sorted(found.items()))


def load_card(file, config) -> tuple[dict[str, Any], dict[str, Any]]:
    rel = f"{Path(config.docs_dir).name}/{file.src_uri}"
    meta = resolve_values(read_front_matter(Path(file.abs_src_path), rel), config, file.src_uri, rel)
    sections = [s["id"] for s in config.extra.get("sections", [])]
    return meta, validate(meta, rel, file.src_uri, sections)


def check_translation_pair(file, card, config) -> None:
    """Fields that are not prose must agree between the Chinese and English pages."""
    if page_lang(file.src_uri) != "en":
        return
    zh_src = file.src_uri[: -len(".en.md")] + ".md"
    zh_path = Path(config.docs_dir) / zh_src
    rel = f"{Path(config.docs_dir).name}/{file.src_uri}"
    zh_meta = read_front_matter(zh_path, f"{Path(config.docs_dir).name}/{zh_src}")
    zh_card = resolve_values(zh_meta.get("tutorial") or {}, config, zh_src, rel)
    for key in SHARED_FIELDS:
        if zh_card.get(key) != card.get(key):
            raise FrontMatterError(
                f"{rel}: front matter field 'tutorial.{key}' is {card.get(key)!r} but the Chinese page "
                f"{zh_src} says {zh_card.get(key)!r}. These fields must be identical in both languages."
            )


def catalog_markdown(files, config, lang: str) -> str:
    t = TEXT[lang]
    pages = tutorial_pages(files)
    by_section: dict[str, list[tuple[Any, dict, dict]]] = {}
    for file in pages.values():
        meta, card = load_card(file, config)
        by_section.setdefault(card["section"], []).append((file, meta, card))
    out = []
    for section in config.extra.get("sections", []):
        entries = by_section.get(section["id"])
        if not entries:
            continue
        out.append(f"### {section[lang]} {{#catalog-{section['id']}}}\n")
        out.append(t["catalog_head"])
        out.append("|---|---|---|---|---|")
        for file, meta, card in entries:
            link = PurePosixPath(file.src_uri).as_posix().replace(".en.md", ".md")
            out.append(
                f"| {card['number']} | [{meta['title']}]({link})<br>{meta['description']} "
                f"| {t['platform'][card['platform']]} | {resources_text(card['resources'], lang)} "
                f"| {t['minutes'].format(m=card['time'])} |"
            )
        out.append("")
    return "\n".join(out)


def git_date(path: str) -> str | None:
    cache = _state["git_dates"]
    if path not in cache:
        try:
            out = subprocess.run(
                ["git", "log", "-1", "--format=%cs", "--", path],
                capture_output=True, text=True, timeout=20, check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        cache[path] = out or None
    return cache[path]


# --------------------------------------------------------------------------------------------- events
def on_files(files, config):
    check_translations(Path(config.docs_dir))
    return files


def check_translations(docs: Path) -> None:
    problems = []
    for path in sorted(docs.rglob("*.md")):
        rel = path.relative_to(docs).as_posix()
        if rel.endswith(".en.md"):
            if not path.with_name(path.name[: -len(".en.md")] + ".md").exists():
                problems.append(f"docs/{rel} has no Chinese page: create docs/{rel[:-6]}.md (Chinese is primary)")
        elif not path.with_name(path.stem + ".en.md").exists():
            problems.append(
                f"docs/{rel} has no English translation: create docs/{rel[:-3]}.en.md, "
                "a complete translation with the same front matter fields"
            )
    if problems:
        raise PluginError("Missing translations:\n  " + "\n  ".join(problems))


def on_page_markdown(markdown, page, config, files):
    src_uri = page.file.src_uri
    rel = f"{Path(config.docs_dir).name}/{src_uri}"
    lang = page_lang(src_uri)
    meta = read_front_matter(Path(page.file.abs_src_path), rel)  # strict: MkDocs ignores broken YAML

    if TUTORIAL_RE.match(src_uri):
        meta, card = load_card(page.file, config)
        check_translation_pair(page.file, card, config)
        page.meta.update(meta)
        page.meta["tutorial_view"] = card_view(card, lang, page, files)
    elif meta.get("tutorial"):
        raise FrontMatterError(
            f"{rel}: has a 'tutorial' card but is not a tutorial page. Tutorial pages live at "
            "docs/tutorials/NN-slug/index.md (and index.en.md)."
        )

    date = git_date(page.file.abs_src_path)
    if date:
        page.meta["revision_date"] = date

    markdown = substitute(markdown, config, src_uri, rel)
    if CATALOG_MARKER in markdown:
        markdown = markdown.replace(CATALOG_MARKER, catalog_markdown(files, config, lang))
    if PORTAL_MARKER in markdown:
        markdown = markdown.replace(PORTAL_MARKER, portal_links_yaml(files, config, lang))
    return markdown


def on_page_content(html_text, page, config, files):
    parts = PRE_BLOCK.split(html_text)
    return "".join(part if part.startswith("<pre") else CJK_BREAK.sub("", part) for part in parts)


def portal_links_yaml(files, config, lang: str) -> str:
    """Ready-to-paste SCOW navLinks / userLinks blocks with one stable deep link per tutorial."""
    base = (config.site_url or "/").rstrip("/") + "/"
    prefix = "" if lang == DEFAULT_LANG else f"{lang}/"
    home = {"zh": "AI 教程", "en": "AI tutorials"}[lang]
    nav = ["navLinks:", f'  - text: "{home}"', f'    url: "{base}{prefix}"', "    openInNewPage: true",
           "    children:"]
    for file in tutorial_pages(files).values():
        meta, _ = load_card(file, config)
        folder = PurePosixPath(file.src_uri).parent.as_posix()
        title = meta["title"].replace('"', '\\"')
        nav += [f'      - text: "{title}"', f'        url: "{base}{prefix}{folder}/"',
                "        openInNewPage: true"]
    user = ["userLinks:", f'  - text: "{home}"', f'    url: "{base}{prefix}"', "    openInNewPage: true"]
    return ("```yaml title=\"config/portal.yaml 或 config/ai.yaml\"\n" if lang == "zh" else
            "```yaml title=\"config/portal.yaml or config/ai.yaml\"\n") + "\n".join(nav) + "\n```\n\n" + (
        "```yaml title=\"config/common.yaml\"\n" + "\n".join(user) + "\n```\n")


def card_view(card: dict[str, Any], lang: str, page, files) -> dict[str, Any]:
    """Display strings of the tutorial card, in the page's language, for overrides/partials/tutorial-card.html."""
    t = TEXT[lang]
    pages = tutorial_pages(files)
    prereqs = []
    for number in card["prerequisites"]:
        target = pages.get(number)
        label = t["tutorial"].format(n=number)
        prereqs.append({"label": label, "url": target.url_relative_to(page.file) if target else None})
    return {
        "labels": t["labels"],
        "number": card["number"],
        "platform": t["platform"][card["platform"]],
        "platform_id": card["platform"],
        "image": card["image"],
        "model": card["model"] or t["none"],
        "dataset": card["dataset"] or t["none"],
        "resources": resources_text(card["resources"], lang),
        "time": t["minutes"].format(m=card["time"]),
        "prerequisites": prereqs,
        "none": t["none"],
        "goal": card["goal"],
        "references": card["references"],
    }


# ------------------------------------------------------------------------------- catalog file, redirects
def tutorial_sources(docs: Path) -> dict[int, Path]:
    found = {}
    for path in sorted(docs.glob("tutorials/*/index.md")):
        match = TUTORIAL_RE.match(path.relative_to(docs).as_posix())
        if match:
            found[int(match.group(1))] = path
    return found


def catalog_json(config) -> dict[str, Any]:
    docs = Path(config.docs_dir)
    base = (config.site_url or "/").rstrip("/") + "/"
    sections = [s["id"] for s in config.extra.get("sections", [])]
    entries = []
    for number, zh_path in tutorial_sources(docs).items():
        folder = zh_path.parent.relative_to(docs).as_posix()
        per_lang = {}
        for lang, path in (("zh", zh_path), ("en", zh_path.with_name("index.en.md"))):
            src = path.relative_to(docs).as_posix()
            rel = f"{docs.name}/{src}"
            meta = resolve_values(read_front_matter(path, rel), config, src, rel)
            per_lang[lang] = (meta, validate(meta, rel, src, sections))
        card = per_lang["zh"][1]
        res = card["resources"]
        tags = [card["section"], card["platform"], "gpu" if res["gpus"] else "cpu-only"]
        if res["nodes"] > 1:
            tags.append("multi-node")
        elif res["gpus"] > 1:
            tags.append("multi-gpu")
        paths = {"zh": f"{folder}/", "en": f"en/{folder}/"}
        entries.append({
            "number": number,
            "slug": zh_path.parent.name,
            "section": card["section"],
            "title": {lang: per_lang[lang][0]["title"] for lang in LANGS},
            "description": {lang: per_lang[lang][0]["description"] for lang in LANGS},
            "path": paths,
            "url": {lang: base + paths[lang] for lang in LANGS},
            "platform": card["platform"],
            "resources": {"nodes": res["nodes"], "gpus_per_node": res["gpus"]},
            "resources_text": {lang: resources_text(res, lang) for lang in LANGS},
            "time_minutes": card["time"],
            "prerequisites": card["prerequisites"],
            "image": card["image"],
            "tags": tags,
        })
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


def write_redirects(config, site: Path) -> None:
    docs = Path(config.docs_dir)
    existing = tutorial_sources(docs)
    for number, old in (config.extra.get("upstream_paths") or {}).items():
        if int(number) not in existing:
            continue  # tutorials not written yet get no redirect: no dead links
        zh_path = existing[int(number)]
        title = read_front_matter(zh_path, zh_path.as_posix()).get("title", "")
        target = site / zh_path.parent.relative_to(docs)
        old_path = PurePosixPath(old)
        stem = old_path.with_suffix("")
        for page in (stem / "index.html", stem.with_suffix(".html"), old_path.parent / "index.html"):
            out = site / page
            out.parent.mkdir(parents=True, exist_ok=True)
            rel = Path(os.path.relpath(target, out.parent)).as_posix() + "/"
            if not config.use_directory_urls:  # the offline build opens files, not folders
                rel += "index.html"
            out.write_text(
                REDIRECT_PAGE.format(title=html.escape(title), target=html.escape(rel), target_js=json.dumps(rel)),
                encoding="utf-8",
            )


def on_startup(command, dirty):
    _state["depth"] = 0


def on_build_error(error):
    _state["depth"] = 0  # mkdocs serve rebuilds after a failed build: start counting afresh


def on_pre_build(config):
    if not _state.get("depth"):
        _state["root_site_dir"] = config.site_dir  # the default language is built first, into the root
    _state["depth"] = _state.get("depth", 0) + 1


@event_priority(-200)
def on_post_build(config):
    """Runs once all languages are built: mkdocs-static-i18n builds the other languages, and writes the
    combined search index, in its own on_post_build (priority -100) of the default language's build."""
    _state["depth"] -= 1
    if _state["depth"]:
        return
    root = Path(_state["root_site_dir"])
    data = catalog_json(config)
    (root / "tutorials.json").write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    write_redirects(config, root)
    split_search_index(root)


def split_search_index(root: Path) -> None:
    """One search index per language: Chinese pages search Chinese pages, English pages English ones.

    mkdocs-static-i18n stacks both languages into search/search_index.json; the English half moves to
    en/search/ with its locations made relative to /en/, where overrides/main.html points English pages."""
    index_path = root / "search" / "search_index.json"
    if not index_path.exists():
        return
    index = json.loads(index_path.read_text(encoding="utf-8"))
    parts: dict[str, list] = {lang: [] for lang in LANGS}
    for doc in index["docs"]:
        lang = next((l for l in LANGS if l != DEFAULT_LANG and doc["location"].startswith(f"{l}/")), DEFAULT_LANG)
        if lang != DEFAULT_LANG:
            doc = dict(doc, location=doc["location"][len(lang) + 1:])
        parts[lang].append(doc)
    for lang, docs in parts.items():
        folder = root / "search" if lang == DEFAULT_LANG else root / lang / "search"
        folder.mkdir(parents=True, exist_ok=True)
        payload = json.dumps(dict(index, docs=docs), ensure_ascii=False, separators=(",", ":"))
        (folder / "search_index.json").write_text(payload, encoding="utf-8")
        if (root / "search" / "search_index.js").exists():  # offline build: the index as a script
            (folder / "search_index.js").write_text(f"var __index = {payload}", encoding="utf-8")
