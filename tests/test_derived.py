"""Derived files (``src/scow_tutorials/derived.py``): each is what ``make regen`` makes from its sources. The
checks read files only (no tutorial environment, no package index), except the one that resolves wheels.txt
again with uv against the local index, as ``make regen`` does."""

from __future__ import annotations

import re
import shutil

from scow_tutorials import derived
from tutorial_fixtures import other_tutorial

LLM = other_tutorial(6)  # the tutorial whose container installs wheels.txt offline


def test_every_derived_file_is_current():
    problems = derived.stale()
    assert not problems, "stale derived files: " + "; ".join(problems) + ". Run `make regen` and commit the result."


def test_a_bumped_pin_makes_wheels_txt_stale(tmp_path):
    folder = tmp_path / LLM.slug
    shutil.copytree(LLM.folder, folder)
    assert derived.wheels_problem(folder) is None
    reqs = folder / "requirements.txt"
    text = reqs.read_text(encoding="utf-8")
    name, version = next(iter(derived.pins(text).items()))
    reqs.write_text(text.replace(f"{name}=={version}", f"{name}=={version}.post1"), encoding="utf-8")
    problem = derived.wheels_problem(folder)
    assert problem and "wheels.txt" in problem and "requirements.txt" in problem


def test_a_hand_edited_wheels_txt_is_stale(tmp_path):
    """Without the stamp (hand-written), or with a pin other than requirements.txt's."""
    folder = tmp_path / LLM.slug
    shutil.copytree(LLM.folder, folder)
    wheels = folder / derived.WHEELS
    text = wheels.read_text(encoding="utf-8")
    name, version = next(iter(derived.pins((folder / "requirements.txt").read_text(encoding="utf-8")).items()))
    wheels.write_text(text.replace(f"{name}=={version}", f"{name}==0.0.1"), encoding="utf-8")
    assert f"lists {name}==0.0.1" in (derived.wheels_problem(folder) or "")
    wheels.write_text(derived.STAMP_RE.sub("# hand-written", text), encoding="utf-8")
    assert "no `make regen` stamp" in (derived.wheels_problem(folder) or "")


def test_regen_resolves_wheels_txt_exactly_as_committed():
    """uv against the package index (offline, local) gives the committed list: the stamp is not a shortcut."""
    assert derived.resolve_wheels(LLM.folder) == (LLM.folder / derived.WHEELS).read_text(encoding="utf-8")


def test_readme_tables_are_rewritten_in_place():
    readme = (derived.ROOT / "README.md").read_text(encoding="utf-8")
    broken = re.sub(r"(<!-- fields-table -->\n)(.*?\n)", r"\1   | `gone` | yes | removed |\n", readme, count=1)
    assert broken != readme
    assert derived.readme(broken) == derived.readme(readme)
    assert "`number`" in derived.section_re("fields-table").search(derived.readme(broken)).group(2)


def test_requirement_comments_name_the_pinned_versions():
    """A comment in a requirements.txt that names one of the file's own packages with a version names its pin
    ("installs beside torch 2.14.1"), so bumping a pin without the comment fails here."""
    stale = []
    for folder in sorted((derived.ROOT / "docs" / "tutorials").glob("*/requirements.txt")):
        text = folder.read_text(encoding="utf-8")
        pinned = derived.pins(text)
        comments = "\n".join(line.split("#", 1)[1] for line in text.splitlines() if "#" in line)
        for name, version in re.findall(r"(?<![\w.-])([A-Za-z][\w.-]*) (\d+(?:\.\d+)+)\b", comments):
            if name.lower() in pinned and pinned[name.lower()] != version:
                stale.append(f"{folder.relative_to(derived.ROOT)}: a comment names {name} {version}, the pin is "
                             f"{pinned[name.lower()]}")
    assert not stale, stale
