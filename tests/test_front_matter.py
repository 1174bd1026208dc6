"""Front matter follows the tutorial schema; broken input fails the build with a clear message."""

from __future__ import annotations

import re

import pytest
from mkdocs.config import load_config

import site_frontmatter
import site_schema
from conftest import ROOT, mkdocs_build, registry, tutorial_dirs

SECTIONS = ["python", "pytorch", "cv", "llm"]
T1 = "docs/tutorials/01-house-prices/index.md"


def test_every_tutorial_card_is_valid():
    tutorials = registry()
    assert tutorials, "no tutorials found"
    assert [t.folder for t in tutorials.values()] == tutorial_dirs()
    for number, tutorial in tutorials.items():
        for lang in ("zh", "en"):
            assert tutorial.card[lang]["number"] == number == int(tutorial.slug[:2])


@pytest.mark.parametrize(
    "field, value, expected",
    [
        ("platform", "gpu", "one of hpc, ai, both"),
        ("number", "one", "an integer from 0 to 14"),
        ("resources", "1 GPU", "{nodes: N, gpus: M}"),
        ("references", [], "non-empty list"),
        ("colour", "blue", "no such field"),
    ],
)
def test_validate_names_field_and_expectation(field, value, expected):
    meta = site_frontmatter.read_front_matter(ROOT / T1, T1)
    meta["tutorial"][field] = value
    with pytest.raises(site_frontmatter.FrontMatterError) as err:
        site_schema.validate(meta, T1, 1, SECTIONS)
    message = str(err.value)
    assert T1 in message and f"tutorial.{field}" in message and expected in message


def test_missing_field_is_reported():
    meta = site_frontmatter.read_front_matter(ROOT / T1, T1)
    del meta["tutorial"]["goal"]
    with pytest.raises(site_frontmatter.FrontMatterError, match=r"tutorial\.goal': missing"):
        site_schema.validate(meta, T1, 1, SECTIONS)


def _break(project, rel, old, new):
    path = project / rel
    text = path.read_text(encoding="utf-8")
    assert re.search(old, text, flags=re.M), f"test setup: {old!r} not in {rel}"
    path.write_text(re.sub(old, new, text, count=1, flags=re.M), encoding="utf-8")


def _failed_build(project, tmp_path):
    result = mkdocs_build(tmp_path / "out", project)
    assert result.returncode != 0, "the build should have failed but passed"
    return result.stdout + result.stderr


def test_build_fails_on_schema_violation(project_copy, tmp_path):
    _break(project_copy, T1, r"^  platform: \w+", "  platform: gpu")
    log = _failed_build(project_copy, tmp_path)
    assert "docs/tutorials/01-house-prices/index.md" in log
    assert "tutorial.platform" in log and "one of hpc, ai, both" in log


def test_build_fails_on_malformed_yaml(project_copy, tmp_path):
    _break(project_copy, T1, r"^  time: .*$", "  time: [30")
    log = _failed_build(project_copy, tmp_path)
    assert "docs/tutorials/01-house-prices/index.md" in log and "not valid YAML" in log


def test_build_fails_when_languages_disagree(project_copy, tmp_path):
    _break(project_copy, T1.replace(".md", ".en.md"), r"^  time: .*$", "  time: 999")
    log = _failed_build(project_copy, tmp_path)
    assert "tutorial.time" in log and "identical in both languages" in log


def test_build_fails_on_unknown_fact(project_copy, tmp_path):
    path = project_copy / T1
    path.write_text(path.read_text(encoding="utf-8") + "\nVersion {{ facts.no_such_fact }}\n", encoding="utf-8")
    log = _failed_build(project_copy, tmp_path)
    assert "facts.no_such_fact" in log and "extra.facts" in log and "01-house-prices/index.md" in log


def test_build_fails_on_missing_translation(project_copy, tmp_path):
    (project_copy / T1.replace(".md", ".en.md")).unlink()
    log = _failed_build(project_copy, tmp_path)
    assert "docs/tutorials/01-house-prices/index.md has no English translation" in log
    assert "index.en.md" in log


def test_build_fails_on_missing_include(project_copy, tmp_path):
    path = project_copy / T1
    path.write_text(
        path.read_text(encoding="utf-8") + '\n```python\n--8<-- "tutorials/01-house-prices/nope.py"\n```\n',
        encoding="utf-8",
    )
    log = _failed_build(project_copy, tmp_path)
    assert "nope.py" in log


def test_facts_are_substituted(built):
    facts = load_config(str(ROOT / "mkdocs.yml"))["extra"]["facts"]
    assert facts["torch"], "extra.facts.torch must be defined"
    leftovers = [p for p in built.html_files() if re.search(r"\{\{\s*(facts\.|files_url)", p.read_text(encoding="utf-8"))]
    assert not leftovers, f"unsubstituted placeholders in {leftovers}"
