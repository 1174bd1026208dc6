"""The project's layout (README.md, "Layout"): shared code lives in one package, ``src/scow_tutorials``, that the
hooks, the tools and the tests import; nothing edits ``sys.path`` to reach it."""

from __future__ import annotations

import ast
import subprocess
import tomllib

from scow_tutorials.common import ROOT


def python_files():
    """The project's Python files: tracked or new, not ignored (.venv, .envs and builds are)."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "*.py"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / name for name in sorted(set(listed)) if (ROOT / name).is_file()]


def test_nothing_edits_sys_path():
    found = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", "") == "sys":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, (f"sys.path is used in {found}: import shared code from scow_tutorials (src/), and give a "
                       "script run in a tutorial's environment what it needs through PYTHONPATH (run_script does)")


def test_hooks_share_code_through_the_package():
    """A hook imports shared code from scow_tutorials, never another hook (MkDocs loads each by its path)."""
    hooks = {p.stem for p in (ROOT / "overrides" / "hooks").glob("*.py")}
    found = []
    for path in sorted((ROOT / "overrides" / "hooks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.relative_to(ROOT)} imports {n}" for n in names if n.split(".")[0] in hooks]
    assert not found, found


def test_the_package_is_declared_for_an_editable_install():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["tool"]["setuptools"]["package-dir"] == {"": "src"}
    assert "scow_tutorials" in project["tool"]["setuptools"]["packages"]
    assert "pip install -q -e '.[test]'" in (ROOT / "Makefile").read_text(encoding="utf-8")
