"""The page model holds for every tutorial: a test module per folder, every published script or config run
by a test, a card whose verification line says exactly what the tests execute, facts never copied into
tests, and the README's field table equal to the schema."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from mkdocs.config import load_config

import site_schema
from conftest import ROOT, registry
from tutorial_fixtures import EXECUTABLE_SUFFIXES, module_name, published_files

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


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_tests_read_facts_instead_of_copying_them(tutorial):
    """Versions and names that are facts come from extra.facts (load_config) or the published files."""
    facts = fact_values(load_config(str(ROOT / "mkdocs.yml"))["extra"]["facts"])
    watched = {k: v for k, v in facts.items() if k in {"torch", "torchvision", "miniconda_installer"}}
    source = module_path(tutorial).read_text(encoding="utf-8") if module_path(tutorial).exists() else ""
    copied = {k: v for k, v in watched.items() if re.search(rf"['\"]{re.escape(v)}['\"]", source)}
    assert not copied, f"tests/{module_path(tutorial).name} copies facts {copied}: read them from extra.facts"


@pytest.mark.parametrize("tutorial", TUTORIALS.values(), ids=ids)
def test_tests_do_not_build_their_own_folder_path(tutorial):
    source = module_path(tutorial).read_text(encoding="utf-8") if module_path(tutorial).exists() else ""
    assert tutorial.slug not in source, (f"tests/{module_path(tutorial).name} names its folder {tutorial.slug}: "
                                         "use the tutorial / workdir fixtures")


def test_readme_field_table_is_the_schema():
    readme = "\n".join(line.strip() for line in (ROOT / "README.md").read_text(encoding="utf-8").splitlines())
    assert site_schema.readme_table() in readme, (
        "README.md's table of card fields differs from overrides/hooks/site_schema.py: paste "
        "site_schema.readme_table() into README.md ('Add a tutorial')")
