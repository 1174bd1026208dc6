"""The page model holds for every tutorial: a test module per folder, every published script or config run
by a test, a card whose verification line says exactly what the tests execute, facts never copied into
tests, and the README's field table equal to the schema."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from scow_tutorials import blocks as site_blocks
from scow_tutorials import frontmatter as site_frontmatter
from conftest import ROOT, registry
from tutorial_fixtures import EXECUTABLE_SUFFIXES, module_name, published_files
from tutorial_fixtures import facts as tutorial_facts

TESTS = ROOT / "tests"
TUTORIALS = registry()


def module_path(tutorial) -> Path:
    return TESTS / f"{module_name(tutorial.folder)}.py"


def string_args(tree: ast.AST, callee: str) -> set[str]:
    """String literals passed (positionally) to calls of ``callee`` (``run_script`` or ``slurm.submit``)."""
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name != callee.rpartition(".")[2]:
            continue
        if "." in callee and not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)
                                  and func.value.id == callee.partition(".")[0]):
            continue
        found |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return found


def parsed(tutorial) -> ast.AST:
    path = module_path(tutorial)
    if not path.exists():
        pytest.fail(f"docs/tutorials/{tutorial.slug}/ has no test module: create tests/{path.name} that runs "
                    "its scripts with the run_script fixture (README, 'Add a tutorial')", pytrace=False)
    return ast.parse(path.read_text(encoding="utf-8"))


def scripts_and_configs(tutorial) -> set[str]:
    return {p.relative_to(tutorial.folder).as_posix() for p in published_files(tutorial.folder)
            if p.suffix in EXECUTABLE_SUFFIXES}


def batch_scripts(tutorial) -> set[str]:
    return {p.relative_to(tutorial.folder).as_posix() for p in published_files(tutorial.folder)
            if p.suffix == ".sh" and re.search(r"^#(SBATCH|CBATCH)\s", p.read_text(encoding="utf-8"), re.M)}


ids = [t.slug for t in TUTORIALS.values()]


def test_every_test_module_belongs_to_a_tutorial():
    expected = {module_path(t).name for t in TUTORIALS.values()}
    modules = {p.name for p in TESTS.glob("test_t[0-9][0-9]_*.py")}
    assert modules <= expected, f"test modules without a tutorial folder: {sorted(modules - expected)}"


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_every_published_script_and_config_runs_in_a_test(tutorial):
    tree = parsed(tutorial)
    named = string_args(tree, "run_script") | string_args(tree, "slurm.submit")
    missing = scripts_and_configs(tutorial) - named
    assert not missing, (f"tests/{module_path(tutorial).name} runs no test with {sorted(missing)}: call "
                         f"run_script(\"{sorted(missing)[0]}\", ...) (or slurm.submit for a batch script) in a test")


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_verified_ci_is_what_the_tests_run(tutorial):
    tree = parsed(tutorial)
    ran = string_args(tree, "run_script") & scripts_and_configs(tutorial)
    claimed = tutorial.card["zh"]["verified"]
    assert set(claimed["ci"]) == ran, (
        f"docs/tutorials/{tutorial.slug}/index.md: verified.ci is {sorted(claimed['ci'])} but "
        f"tests/{module_path(tutorial).name} runs {sorted(ran)}: make the card say what the tests run")
    submitted = string_args(tree, "slurm.submit")
    assert set(claimed["slurm"]) == submitted & batch_scripts(tutorial), (
        f"docs/tutorials/{tutorial.slug}/index.md: verified.slurm is {sorted(claimed['slurm'])} but the tests "
        f"submit {sorted(submitted)} to Slurm")


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_every_batch_script_runs_under_slurm(tutorial):
    missing = batch_scripts(tutorial) - string_args(parsed(tutorial), "slurm.submit")
    assert not missing, (f"batch scripts {sorted(missing)} of {tutorial.slug} are never submitted: call "
                         f"slurm.submit(\"{sorted(missing)[0]}\", ...) in tests/{module_path(tutorial).name}")


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_gpu_claims_have_a_recorded_run(tutorial):
    gpu = tutorial.card["zh"]["verified"]["gpu"]
    if gpu is not None:
        record = tutorial.folder / gpu["record"]
        assert record.is_file() and record.stat().st_size > 0, f"{tutorial.slug}: GPU record {record} is missing"
        assert gpu["hardware"].split()[-1] in record.read_text(encoding="utf-8"), (
            f"{record} does not mention the hardware the card names ({gpu['hardware']})")


def fact_values(tree, prefix="") -> dict[str, str]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(fact_values(value, f"{prefix}{key}."))
        else:
            out[prefix + key] = str(value)
    return out


def copied_values(tutorial) -> dict[str, str]:
    """Every fact (any key of extra.facts) and every pinned version that a value could be copied from."""
    facts = fact_values(tutorial_facts())
    values = {f"facts.{k}": v for k, v in facts.items() if len(v) >= 4}
    for other in TUTORIALS.values():
        reqs = other.folder / "requirements.txt"
        if reqs.exists():
            for name, version in site_frontmatter.pins(reqs).items():
                if version.count(".") >= 2:
                    values[f"{other.slug}/requirements.txt {name}"] = version
    return values


def sources_of(tutorial) -> list[Path]:
    """The tutorial's test module and the fixtures only it names."""
    main = module_path(tutorial)
    paths = [main] if main.exists() else []
    text = main.read_text(encoding="utf-8") if main.exists() else ""
    paths += [p for p in sorted((TESTS / "fixtures").glob("*.py")) if p.stem in text]
    return paths


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_tests_read_facts_instead_of_copying_them(tutorial):
    """Versions, names and ids that are facts or pins come from extra.facts (load_config), the published
    requirements.txt or the published files: a test that copies one keeps passing when the fact changes."""
    watched = copied_values(tutorial)
    for path in sources_of(tutorial):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                    and id(n) not in docstrings}
        copied = {k: v for k, v in watched.items() if any(v == lit or f"=={v}" in lit or f" {v} " in f" {lit} "
                                                          for lit in literals)}
        assert not copied, (f"tests/{path.relative_to(TESTS)} copies {copied}: read the fact from extra.facts "
                            "(load_config) or the pin from the tutorial's requirements.txt")


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_tests_do_not_build_tutorial_paths(tutorial):
    """No test names a tutorial folder: its own comes from the fixtures, another's from other_tutorial(n)."""
    for path in sources_of(tutorial):
        source = path.read_text(encoding="utf-8")
        named = [t.slug for t in TUTORIALS.values() if t.slug in source]
        assert not named, (f"tests/{path.relative_to(TESTS)} names {named}: use the tutorial / workdir fixtures "
                           "for its own folder and other_tutorial(N) (tests/tutorial_fixtures.py) for another's")


def page_blocks(tutorial, lang="zh"):
    return site_blocks.shell_blocks(tutorial.page_text(lang))


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_every_page_with_shell_steps_is_walked(tutorial):
    """A page whose blocks run somewhere has a walk test, in both languages (tests/walk/)."""
    runnable = [b for b in page_blocks(tutorial) if b.node]
    if not runnable:
        return
    tree = parsed(tutorial)
    calls = {getattr(n.func, "attr", getattr(n.func, "id", None)) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "page_walk" in calls and "same_blocks" in calls, (
        f"tests/{module_path(tutorial).name} does not walk docs/tutorials/{tutorial.slug}/index.md "
        f"({len(runnable)} blocks run on a node): add a test that calls page_walk(...).run() and "
        "page_walk.same_blocks('en')")


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_page_versions_come_from_the_pins(tutorial):
    """A version the tutorial's requirements.txt pins is written {{ pin.NAME }} on its pages, never copied."""
    reqs = tutorial.folder / "requirements.txt"
    if not reqs.exists():
        return
    copied = []
    for lang in ("zh", "en"):
        page = tutorial.folder / ("index.md" if lang == "zh" else "index.en.md")
        text = re.sub(r"\{\{.*?\}\}", "", page.read_text(encoding="utf-8"))
        text = re.sub(r'--8<-- "[^"]*"', "", text)
        for name, version in site_frontmatter.pins(reqs).items():
            if version.count(".") >= 2 and re.search(rf"(?<![\w.]){re.escape(version)}(?![\w.])", text):
                copied.append(f"{page.name}: {name} {version}")
    assert not copied, (f"docs/tutorials/{tutorial.slug}: {copied}: write {{{{ pin.NAME }}}} (the version in "
                        "requirements.txt) so that one edit of requirements.txt changes the page too")


def test_version_facts_agree_with_the_pins():
    """Facts that restate a pinned version: the LLaMA-Factory image's tag and Tutorial 14's CUDA release."""
    facts = tutorial_facts()
    by_number = {t.number: t for t in TUTORIALS.values()}
    lf = site_frontmatter.pins(by_number[9].folder / "requirements.txt")["llamafactory"]
    assert facts["images"]["llamafactory"].rsplit(":", 1)[1] == lf, (
        "extra.facts.images.llamafactory's tag and tutorial 9's llamafactory pin differ")
    nvcc = site_frontmatter.pins(by_number[14].folder / "requirements.txt")["nvidia-cuda-nvcc"]
    assert nvcc.startswith(str(facts["t14_cuda"]) + "."), "extra.facts.t14_cuda and the nvcc pin differ"
