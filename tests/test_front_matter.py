"""Front matter follows the tutorial schema; broken input fails the build with a clear message."""

from __future__ import annotations

import re
import shutil
import json

import pytest
from tutorial_fixtures import facts as tutorial_facts

from scow_tutorials import frontmatter as site_frontmatter
from scow_tutorials import schema as site_schema
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
        ("number", "one", "an integer from 0 to 99"),
        ("prerequisites", [77], "a tutorial that exists"),
        ("resources", "1 GPU", "{nodes: N, gpus: M}"),
        ("references", [], "non-empty list"),
        ("colour", "blue", "no such field"),
    ],
)
def test_validate_names_field_and_expectation(field, value, expected):
    meta = site_frontmatter.read_front_matter(ROOT / T1, T1)
    meta["tutorial"][field] = value
    with pytest.raises(site_frontmatter.FrontMatterError) as err:
        site_schema.validate(meta, T1, 1, SECTIONS, tuple(range(15)))
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
    facts = tutorial_facts()
    assert facts["torch"], "extra.facts.torch must be defined"
    leftovers = [p for p in built.html_files() if re.search(r"\{\{\s*(facts\.|pin\.|files_url)", p.read_text(encoding="utf-8"))]
    assert not leftovers, f"unsubstituted placeholders in {leftovers}"


def _add_field(project, name: str, declaration: str) -> None:
    """Declare a card field in the copy's scow_tutorials.schema.FIELDS (the one place the README names)."""
    schema = project / "src" / "scow_tutorials" / "schema.py"
    text = schema.read_text(encoding="utf-8")
    assert "\n)\n# Parts of a field" in text, "test setup: FIELDS must end before SHARED_PARTS"
    schema.write_text(text.replace("\n)\n# Parts of a field", f"\n    {declaration},\n)\n# Parts of a field", 1),
                      encoding="utf-8")


def _set_field_everywhere(project, line: str) -> None:
    for page in sorted((project / "docs" / "tutorials").glob("*/index*.md")):
        text = page.read_text(encoding="utf-8")
        page.write_text(text.replace("\n  verified:", f"\n  {line}\n  verified:", 1), encoding="utf-8")


DIFFICULTY = ('Field("difficulty", True, lambda v, c: integer(c.rel, "tutorial.difficulty", v, 1, 3), "1 to 3", '
              '{"zh": "难度", "en": "Difficulty"}, "text", catalog=True)')


def test_a_new_card_field_is_one_declaration(project_copy, tmp_path):
    """README "Add a card field": one entry in FIELDS and the value in each page; the card, the catalog and
    tutorials.json then show it with nothing else changed."""
    _add_field(project_copy, "difficulty", DIFFICULTY)
    _set_field_everywhere(project_copy, "difficulty: 2")
    site = tmp_path / "out"
    result = mkdocs_build(site, project_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    for lang, label in (("zh", "难度"), ("en", "Difficulty")):
        base = site if lang == "zh" else site / "en"
        card = (base / "tutorials" / "01-house-prices" / "index.html").read_text(encoding="utf-8")
        assert re.search(rf'data-field="difficulty"><dt>{label}</dt>\s*<dd>2</dd>', card), card[:2000]
        home = (base / "index.html").read_text(encoding="utf-8")
        assert f"<th>{label}</th>" in home
    entry = json.loads((site / "tutorials.json").read_text(encoding="utf-8"))["tutorials"][1]
    assert entry["difficulty"] == 2


def test_a_card_field_declared_but_not_set_fails_naming_the_page(project_copy, tmp_path):
    _add_field(project_copy, "difficulty", DIFFICULTY)
    log = _failed_build(project_copy, tmp_path)
    assert "tutorial.difficulty': missing" in log and "docs/tutorials/00-python-env/index.md" in log


def test_tutorial_15_needs_only_its_folder_test_module_and_nav(project_copy, tmp_path):
    """A 16th tutorial builds with no number changed anywhere (no hard-coded count)."""
    src = project_copy / "docs" / "tutorials" / "05-datasets"
    new = project_copy / "docs" / "tutorials" / "15-extra-step"
    shutil.copytree(src, new)
    for page in new.glob("index*.md"):
        page.write_text(page.read_text(encoding="utf-8").replace("number: 5", "number: 15")
                        .replace("tutorials/05-datasets/", "tutorials/15-extra-step/"), encoding="utf-8")
    config = project_copy / "mkdocs.yml"
    text = config.read_text(encoding="utf-8")
    entry = "      - tutorials/05-datasets/index.md\n"
    assert entry in text, "test setup: the nav entry of tutorial 5"
    config.write_text(text.replace(entry, entry + "      - tutorials/15-extra-step/index.md\n", 1), encoding="utf-8")
    site = tmp_path / "out"
    result = mkdocs_build(site, project_copy)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    numbers = [t["number"] for t in json.loads((site / "tutorials.json").read_text(encoding="utf-8"))["tutorials"]]
    assert 15 in numbers
