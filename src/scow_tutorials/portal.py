"""Portal steps as data the build checks: ``{{ portal.hpc: 交互式应用 > <集群> > 创建应用 }}`` and form blocks.

A page names every click and field of the SCOW portal in one of two forms, outside code blocks:

* ``{{ portal.hpc: A > B > C }}`` / ``{{ portal.ai: A }}``: a menu path or one button/field. Segments in ``<…>``
  are the reader's choice (cluster, node, job) and are not checked. Rendered bold with ``→``; on English pages
  followed by the HPC portal's own English string (or, for the Chinese-only AI platform, an English gloss); where a
  newer release names a label differently, that name follows in parentheses.
* a fenced block ```` ```portal-form NAME ```` holding ``field: value`` lines (YAML): rendered as a table of the
  fields in the order the form shows them, with the ticks that reveal hidden fields as rows of their own.

Labels are checked against ``portal_labels.json`` (generated from OpenSCOW's source by ``tools/portal_labels.py``)
and ``portal.yml`` (glosses, newer releases' names, forms). An unknown label stops the build, naming the page, the
line and the nearest known label.
"""

from __future__ import annotations

import difflib
import html
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from mkdocs.exceptions import PluginError

from scow_tutorials import blocks

HERE = Path(__file__).resolve().parent
STEP_RE = re.compile(r"\{\{\s*portal\.(hpc|ai)\s*:\s*(.+?)\s*\}\}")
INLINE_CODE_RE = re.compile(r"(`+)(?:.+?)\1")
CHOICE_RE = re.compile(r"^<[^<>]+>$")
AFTER_PAREN_RE = re.compile(r"）[ \t]+(?=[\u4e00-\u9fff（“])")
WORDS = {
    "zh": {
        "field": "字段",
        "value": "填写",
        "why": "说明",
        "tick": "勾选",
        "join": "、",
        "newer": "（新版本为 {alt}）",
        "newer_in": "（新版本中 {label} 为 {alt}）",
        "or": " 或 ",
        "tick_why": "勾选后才出现：{fields}",
        "when": "{cond} 时才出现",
    },
    "en": {
        "field": "Field",
        "value": "Value",
        "why": "Why",
        "tick": "tick",
        "join": ", ",
        "newer": "; newer releases: {alt}",
        "newer_in": "; in newer releases {label} is {alt}",
        "or": " or ",
        "tick_why": "ticking it shows: {fields}",
        "when": "appears when {cond}",
    },
}


class PortalError(PluginError):
    """A page names a portal label that is not the portal's."""


@dataclass(frozen=True)
class Labels:
    source: str
    hpc: dict[str, str]  # zh -> the HPC portal's English string
    ai: set[str]  # zh labels of the AI platform
    gloss: dict[str, str]  # AI zh -> English gloss
    alternatives: dict[str, dict[str, list[str]]]
    apps: set[str]
    forms: dict[str, Any]

    def known(self, platform: str) -> set[str]:
        base = set(self.hpc) if platform == "hpc" else set(self.ai)
        newer = {alt for alts in self.alternatives.get(platform, {}).values() for alt in alts}
        return base | newer | self.apps

    def english(self, platform: str, label: str, override: dict[str, str] | None = None) -> str:
        if override and label in override:
            return override[label]
        if label in self.apps:
            return label
        if platform == "hpc" and self.hpc.get(label):
            return self.hpc[label].strip()
        if label in self.gloss:
            return self.gloss[label]
        raise KeyError(label)


def _no_aliases(text: str, where: str) -> Any:
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise PortalError(f"{where}: YAML anchors and aliases are not allowed here.")
    return yaml.safe_load(text)


@cache
def labels() -> Labels:
    generated = json.loads((HERE / "portal_labels.json").read_text(encoding="utf-8"))
    extra = _no_aliases((HERE / "portal.yml").read_text(encoding="utf-8"), "src/scow_tutorials/portal.yml")
    return Labels(
        source=generated["source"],
        hpc=generated["hpc"],
        ai=set(generated["ai"]),
        gloss=extra.get("ai_gloss") or {},
        alternatives=extra.get("alternatives") or {},
        apps=set(extra.get("apps") or []),
        forms=extra.get("forms") or {},
    )


def _line_of(source: str, needle: str) -> int:
    index = source.find(needle)
    return source.count("\n", 0, index) + 1 if index >= 0 else 0


class Renderer:
    def __init__(self, lang: str, rel: str, source: str):
        self.lang, self.rel, self.source = lang, rel, source
        self.words = WORDS[lang]
        self.labels = labels()

    def fail(self, needle: str, message: str) -> PortalError:
        line = _line_of(self.source, needle)
        return PortalError(f"{self.rel}:{line}: {message}" if line else f"{self.rel}: {message}")

    def check(self, platform: str, label: str, needle: str) -> None:
        if CHOICE_RE.match(label):
            return
        known = self.labels.known(platform)
        if label not in known:
            near = difflib.get_close_matches(label, sorted(known), n=1, cutoff=0.0)
            hint = f" The nearest label is '{near[0]}'." if near else ""
            raise self.fail(
                needle,
                f"'{label}' is not a label of the SCOW {platform.upper()} portal "
                f"({self.labels.source}).{hint} Use the portal's own label "
                "(src/scow_tutorials/portal_labels.json, newer names in portal.yml).",
            )
        if self.lang == "en":
            try:
                self.labels.english(platform, label)
            except KeyError:
                raise self.fail(
                    needle, f"'{label}' has no English gloss: add it under ai_gloss in src/scow_tutorials/portal.yml."
                ) from None

    @staticmethod
    def esc(text: str) -> str:
        return html.escape(text, quote=False)

    def path(self, platform: str, segments: list[str], override: dict[str, str] | None = None) -> str:
        bold = "**" + " → ".join(self.esc(s) for s in segments) + "**"
        alts = self.labels.alternatives.get(platform, {})
        newer = [(s, alts[s]) for s in segments if s in alts]
        extra = ""
        if len(segments) == 1 and newer:
            extra = self.words["newer"].format(alt=self.words["or"].join(f"**{a}**" for a in newer[0][1]))
        elif newer:
            extra = "".join(
                self.words["newer_in"].format(label=f"**{s}**", alt=self.words["or"].join(f"**{a}**" for a in alt))
                for s, alt in newer
            )
        if self.lang == "zh":
            return bold + extra
        gloss = " → ".join(
            self.esc(s) if CHOICE_RE.match(s) else self.labels.english(platform, s, override) for s in segments
        )
        if gloss == " → ".join(self.esc(s) for s in segments):  # nothing to translate (Shell, VSCode, <cluster>)
            return f"{bold} ({extra[2:]})" if extra else bold
        return f"{bold} ({gloss}{extra})"

    def step(self, match: re.Match) -> str:
        platform, text = match.group(1), match.group(2)
        segments = [s.strip() for s in re.split(r"\s+>\s+", text.strip())]
        for segment in segments:
            if not segment:
                raise self.fail(match.group(0), f"empty segment in '{match.group(0)}' (write A > B > C).")
            self.check(platform, segment, match.group(0))
        return self.path(platform, segments)

    def steps(self, text: str) -> str:
        out = STEP_RE.sub(self.step, text)
        if self.lang == "zh" and out != text:  # "**连接**（新版本为 **进入**） 里" -> no space after the full-width ）
            out = AFTER_PAREN_RE.sub("）", out)
        return out

    def inline(self, line: str) -> str:
        parts, last = [], 0
        for code in INLINE_CODE_RE.finditer(line):
            parts.append(self.steps(line[last : code.start()]))
            parts.append(code.group(0))
            last = code.end()
        parts.append(self.steps(line[last:]))
        return "".join(parts)

    def form(self, name: str, body: str, indent: str) -> list[str]:
        forms = self.labels.forms
        needle = f"portal-form {name}"
        if name not in forms:
            raise self.fail(
                needle,
                f"unknown form '{name}'; the forms are: {', '.join(sorted(forms))} (src/scow_tutorials/portal.yml).",
            )
        spec = forms[name]
        platform, override = spec["platform"], (spec.get("en") or {})
        try:
            given = _no_aliases(body, self.rel) or {}
        except yaml.YAMLError as exc:
            raise self.fail(
                needle,
                f"the portal-form block is not valid YAML: {str(exc).splitlines()[0]}. "
                "Write one 'field: value' per line; quote values with ':' or '#'.",
            ) from None
        if not isinstance(given, dict):
            raise self.fail(needle, "a portal-form block holds 'field: value' lines.")
        order = [f["label"] for f in spec["fields"]]
        for key in given:
            if key not in order:
                near = difflib.get_close_matches(str(key), order, n=1, cutoff=0.0)
                raise self.fail(
                    needle,
                    f"form '{name}' has no field '{key}'"
                    f"{f'; the nearest is {near[0]!r}' if near else ''}. Its fields, in order: "
                    f"{', '.join(order)}.",
                )
            self.check(platform, str(key), needle)
        w = self.words
        rows = [f"| {w['field']} | {w['value']} | {w['why']} |", "|---|---|---|"]
        ticked: set[str] = set()
        for field in spec["fields"]:
            label = field["label"]
            if label not in given:
                continue
            tick = field.get("reveal_by")
            if tick and tick not in ticked and tick not in given and tick in order + ["添加类型"]:
                ticked.add(tick)
                shown = [f["label"] for f in spec["fields"] if f.get("reveal_by") == tick and f["label"] in given]
                named = (
                    shown
                    if self.lang == "zh"
                    else [f"{s} ({self.labels.english(platform, s, override)})" for s in shown]
                )
                if tick == "添加类型":
                    value = w["tick"] + " " + w["join"].join(self.path(platform, [s], override) for s in shown)
                    why = w["tick_why"].format(fields=w["join"].join(named))
                else:
                    value, why = w["tick"], w["tick_why"].format(fields=w["join"].join(named))
                self.check(platform, tick, needle)
                rows.append(f"| {self.path(platform, [tick], override)} | {value} | {why} |")
            value = given[label]
            why = field.get("why", {}).get(self.lang, "")
            if isinstance(value, dict):
                why = value.get("why", why)
                value = value.get("value", "")
            cell = str(value).replace("|", "\\|").replace("\n", " ")
            rows.append(f"| {self.path(platform, [label], override)} | {cell} | {why} |")
        return [indent + row for row in rows]

    def render(self, markdown: str) -> str:
        lines = markdown.split("\n")
        out: list[str] = []
        last = 0
        for i, j, opening in blocks.fences(lines):
            out += [self.inline(line) for line in lines[last:i]]
            info, indent = opening.group("info").strip().split(), opening.group("indent")
            if info[:1] == ["portal-form"] and len(info) == 2:
                body = "\n".join(ln[len(indent) :] if ln.startswith(indent) else ln for ln in lines[i + 1 : j])
                out += self.form(info[1], body, indent)
            else:
                out += lines[i : j + 1]
            last = j + 1
        out += [self.inline(line) for line in lines[last:]]
        return "\n".join(out)


def render(markdown: str, lang: str, rel: str, source: str) -> str:
    """``markdown`` with every portal step and form rendered; ``source`` (the page's file) gives line numbers."""
    return Renderer(lang, rel, source).render(markdown)
