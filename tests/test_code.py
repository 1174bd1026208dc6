"""Code a reader copies: every fence has a language, shell parses, Python parses, YAML/JSON load, every
`pip install` pins exact versions, and the code shown on a page is byte for byte the published file."""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest
import yaml
from bs4 import BeautifulSoup
from tutorial_fixtures import facts as tutorial_facts

from conftest import DOCS, LANGS, ROOT, SITE_URL, page_url, tutorial_dirs, zh_pages

SHELL_LANGS = {"bash", "sh", "shell"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<ticks>`{3,}|~{3,})(?P<info>.*)$")
PIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?==[A-Za-z0-9.+!_-]+$")
PIP_VALUE_OPTIONS = {"-i", "--index-url", "--extra-index-url", "-f", "--find-links", "-c", "--constraint",
                     "--target", "-t", "--prefix", "--root", "--platform", "--python-version", "--trusted-host",
                     "--cache-dir", "--progress-bar"}
SHELLCHECK = shutil.which("shellcheck")


def all_md() -> list[Path]:
    return sorted(DOCS.rglob("*.md"))


def code_blocks(built):
    """(page, language, text, filename) for every highlighted block in the built site."""
    for md in zh_pages():
        for lang in LANGS:
            html = built.page(lang, page_url(md))
            soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
            for div in soup.select("article div.highlight"):
                langs = [c[len("language-"):] for c in div.get("class", []) if c.startswith("language-")]
                code = div.find("code")
                name = div.find(class_="filename")
                yield (f"{md.relative_to(ROOT)} ({lang})", langs[0] if langs else None,
                       code.get_text() if code else "", name.get_text() if name else None)


def pip_requirements(command: str) -> list[str]:
    """The package specs of a `pip install` command line ('-r FILE' gives 'r:FILE')."""
    words = shlex.split(command, comments=True)
    specs = []
    for i, word in enumerate(words):
        if word == "install" and i > 0 and re.search(r"(^|/)pip3?$|^pip3?$", words[i - 1]) or (
            word == "install" and words[i - 2 : i] == ["-m", "pip"]
        ):
            rest = words[i + 1 :]
            skip = False
            for j, arg in enumerate(rest):
                if skip:
                    skip = False
                    continue
                if arg in {"&&", "||", ";", "|"}:
                    break
                if arg in ("-r", "--requirement"):
                    specs.append("r:" + rest[j + 1])
                    skip = True
                elif arg in PIP_VALUE_OPTIONS:
                    skip = True
                elif arg.startswith("-"):
                    continue
                else:
                    specs.append(arg)
    return specs


def logical_lines(text: str) -> list[str]:
    return text.replace("\\\n", " ").splitlines()


def test_every_fence_has_a_language():
    problems = []
    for md in all_md():
        open_fence = None
        for n, line in enumerate(md.read_text(encoding="utf-8").splitlines(), 1):
            m = FENCE.match(line)
            if not m:
                continue
            if open_fence is None:
                open_fence = m.group("ticks")
                if not m.group("info").strip():
                    problems.append(f"{md.relative_to(ROOT)}:{n}")
            elif m.group("ticks").startswith(open_fence) and not m.group("info").strip():
                open_fence = None
    assert not problems, "code fences without a language (use bash, python, yaml, json or text):\n" + "\n".join(problems)


def test_code_blocks_parse(built):
    problems, counts = [], {}
    for where, lang, text, _ in code_blocks(built):
        counts[lang] = counts.get(lang, 0) + 1
        if lang in SHELL_LANGS:
            r = subprocess.run(["bash", "-n"], input=text, capture_output=True, text=True)
            if r.returncode:
                problems.append(f"{where}: bash -n: {r.stderr.strip()}\n{text}")
        elif lang in ("python", "py"):
            try:
                ast.parse(text)
            except SyntaxError as exc:
                problems.append(f"{where}: Python does not parse: {exc}")
        elif lang in ("yaml", "yml"):
            try:
                list(yaml.safe_load_all(text))
            except yaml.YAMLError as exc:
                problems.append(f"{where}: YAML does not load: {exc}")
        elif lang == "json":
            try:
                json.loads(text)
            except ValueError as exc:
                problems.append(f"{where}: JSON does not load: {exc}")
    assert counts, "no code blocks found in the built site"
    assert not problems, "\n\n".join(problems)


@pytest.mark.skipif(not SHELLCHECK, reason="shellcheck is not installed (apt-get install shellcheck)")
def test_shell_blocks_pass_shellcheck(built):
    problems = []
    seen = set()
    for where, lang, text, _ in code_blocks(built):
        if lang not in SHELL_LANGS or text in seen:
            continue
        seen.add(text)
        # SC2164: `cd` without `|| exit` is fine in an interactive shell; SC1090/1091: sourced files
        r = subprocess.run([SHELLCHECK, "-s", "bash", "-S", "warning", "-e", "SC2164,SC1090,SC1091", "-"],
                           input=text, capture_output=True, text=True)
        if r.returncode:
            problems.append(f"{where}:\n{r.stdout}")
    assert not problems, "\n".join(problems)


def shell_scripts() -> list[Path]:
    return sorted(DOCS.rglob("*.sh"))


def test_published_scripts_parse():
    problems = []
    for path in shell_scripts():
        r = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
        if r.returncode:
            problems.append(f"{path.relative_to(ROOT)}: {r.stderr}")
        if SHELLCHECK:  # published scripts get every shellcheck level, style included
            r = subprocess.run([SHELLCHECK, str(path)], capture_output=True, text=True)
            if r.returncode:
                problems.append(f"{path.relative_to(ROOT)}:\n{r.stdout}")
        for line in path.read_text(encoding="utf-8").splitlines():
            if re.match(r"#(CBATCH|SBATCH)\b", line) and len(line.split()) not in (2, 3):
                problems.append(f"{path.relative_to(ROOT)}: `{line}`: a scheduler directive has 2 or 3 fields "
                                "(CraneSched ignores others): no trailing comment")
    for path in sorted(DOCS.rglob("*.py")):
        try:
            ast.parse(path.read_text(encoding="utf-8"), str(path))
        except SyntaxError as exc:
            problems.append(f"{path.relative_to(ROOT)}: {exc}")
    for path in sorted(DOCS.rglob("*.y*ml")):
        yaml.safe_load(path.read_text(encoding="utf-8"))
    for path in sorted(DOCS.rglob("*.json")):
        json.loads(path.read_text(encoding="utf-8"))
    assert not problems, "\n".join(problems)


def requirement_lines(path: Path) -> list[str]:
    lines = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(" #")[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def test_requirements_files_pin_exact_versions():
    files = sorted(DOCS.rglob("requirements*.txt"))
    assert files, "no requirements.txt in docs/"
    problems = [f"{f.relative_to(ROOT)}: '{line}' must pin one exact version, like torch==2.14.1"
                for f in files for line in requirement_lines(f)
                if not (PIN.match(line) or line.startswith(("-i ", "--index-url ", "--extra-index-url ")))]
    assert not problems, "\n".join(problems)


def test_requirements_agree_with_shared_facts():
    facts = tutorial_facts()
    for f in sorted(DOCS.rglob("requirements*.txt")):
        for line in requirement_lines(f):
            name, _, version = line.partition("==")
            if name.lower() in ("torch", "torchvision") and version:
                assert version == facts[name.lower()], (
                    f"{f.relative_to(ROOT)} pins {line}, but extra.facts.{name.lower()} in mkdocs.yml is "
                    f"{facts[name.lower()]}: change one place, then the other"
                )


def test_every_pip_install_pins_exact_versions(built):
    sources = [(where, text) for where, lang, text, _ in code_blocks(built) if lang in SHELL_LANGS]
    sources += [(str(p.relative_to(ROOT)), p.read_text(encoding="utf-8")) for p in shell_scripts()]
    problems, seen = [], 0
    for where, text in sources:
        for line in logical_lines(text):
            if "pip" not in line or "install" not in line:
                continue
            for spec in pip_requirements(line):
                seen += 1
                if spec.startswith("r:"):
                    continue  # requirements files are checked above
                if not PIN.match(spec):
                    problems.append(f"{where}: `{line.strip()}` installs '{spec}' without an exact == pin")
    assert seen, "no pip install found: the check found nothing to check"
    assert not problems, "\n".join(problems)


def test_pip_install_parser_catches_unpinned():
    assert pip_requirements("pip install torch==2.14.1 numpy") == ["torch==2.14.1", "numpy"]
    assert pip_requirements("python -m pip install -r requirements.txt -i https://x/simple") == ["r:requirements.txt"]
    assert not PIN.match("numpy>=2")


def test_shown_code_is_the_published_file(built):
    """A block titled with a file name shows exactly that file's bytes."""
    compared = 0
    for where, lang, text, name in code_blocks(built):
        if not name:
            continue
        md_dir = ROOT / where.split(" ")[0]
        path = md_dir.parent / name
        if not path.exists():
            continue
        compared += 1
        assert text.rstrip("\n") == path.read_text(encoding="utf-8").rstrip("\n"), (
            f"{where}: the block titled {name} differs from {path.relative_to(ROOT)}"
        )
    assert compared, "no code block is titled with a published file name"


def test_every_published_file_is_linked_from_both_pages(built):
    for folder in tutorial_dirs():
        files = sorted(p.name for p in folder.iterdir() if p.is_file() and not p.name.endswith(".md"))
        for lang in LANGS:
            html = built.page(lang, f"tutorials/{folder.name}")
            soup = BeautifulSoup(html.read_text(encoding="utf-8"), "html.parser")
            linked = {unquote(a["href"]).rsplit("/", 1)[-1] for a in soup.select("article a[href]")}
            missing = [f for f in files if f not in linked]
            assert not missing, f"{folder.name} ({lang}) does not link these files for download: {missing}"
            for name in files:
                assert (built.site / "tutorials" / folder.name / name).read_bytes() == (folder / name).read_bytes()


FOR_LOOP_RE = re.compile(r"^[ \t]*for (\w+) in ([^;\n]+);[ \t]*do\n(.*?)^[ \t]*done\b[ \t]*\n?", re.M | re.S)


def expand_for_loops(text: str) -> str:
    """``for f in a b; do wget URL$f; done`` as the lines it runs: ``wget URLa``, ``wget URLb``."""
    def expand(m: re.Match) -> str:
        var, words, body = m.group(1), m.group(2).split(), m.group(3)
        return "".join(re.sub(rf"\$\{{?{var}\b\}}?", word, body) for word in words)
    return FOR_LOOP_RE.sub(expand, text)


def test_wget_urls_point_to_published_files(built):
    """`wget {{ files_url }}x` in a page must fetch a file the build actually publishes (a `for` loop over file
    names is read as the lines it runs; any other `$` left in an address fails)."""
    assert expand_for_loops("for f in a.sh b.py; do\n  wget -N U$f\ndone\nls\n") == \
        "  wget -N Ua.sh\n  wget -N Ub.py\nls\n"
    site_url = SITE_URL
    urls = set()
    for _, lang, text, _ in code_blocks(built):
        if lang in SHELL_LANGS:
            urls |= set(re.findall(re.escape(site_url) + r"[^\s\"'`]+", expand_for_loops(text)))
    assert urls, "no download URL of the site found in the code blocks"
    missing = [u for u in sorted(urls) if not (built.site / u[len(site_url):]).is_file()]
    assert not missing, f"download URLs with no published file: {missing}"
