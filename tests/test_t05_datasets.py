"""Tutorial 5 (datasets): the identity dataset, its dataset_info.json and the fill-in command.

The fill-in command is taken from the page and run exactly as shown; the filled dataset is then loaded by
LLaMA-Factory's own loader (``tests/fixtures/t05_load_dataset.py``) in Tutorial 9's environment, the one that
trains on it.
"""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.t05_helpers import (
    DATASET_CASES,
    dataset_case,
    page_command,
    records,
)
from scow_tutorials import envs
from tutorial_fixtures import facts, isolated_env, other_tutorial

FIXTURES = Path(__file__).parent / "fixtures"
FACTS = facts()
PLACEHOLDERS = ("<NAME>", "<ORG>")
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_dataset_records_are_alpaca_pairs_in_both_languages(tutorial):
    data = records(tutorial.folder)
    assert isinstance(data, list) and len(data) >= 40
    for record in data:
        assert set(record) == {"instruction", "input", "output"}, record
        assert all(isinstance(v, str) for v in record.values()), record
        assert record["instruction"].strip() and record["output"].strip(), record
    questions = [r["instruction"] for r in data]
    assert len(set(questions)) == len(questions), "duplicate questions"
    chinese = [q for q in questions if CJK.search(q)]
    english = [q for q in questions if q.isascii()]
    assert len(chinese) >= 15 and len(english) >= 15, (len(chinese), len(english))
    assert len(chinese) + len(english) == len(data)
    # The series' question is in it, and every answer names the assistant or its organisation.
    assert "你好，你是谁？" in questions
    assert all(any(p in r["output"] for p in PLACEHOLDERS) for r in data)
    assert sum("<NAME>" in r["output"] for r in data) >= 30


def test_dataset_info_names_the_file_once(tutorial):
    info = json.loads((tutorial.folder / "dataset_info.json").read_text(encoding="utf-8"))
    assert list(info) == [FACTS["identity_dataset"]]
    entry = info[FACTS["identity_dataset"]]
    assert entry["file_name"] == FACTS["identity_file"]
    assert (tutorial.folder / entry["file_name"]).is_file()
    assert entry["formatting"] == "alpaca"
    assert entry["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}


def test_page_command_fills_every_placeholder(tutorial, workdir, run_script):
    command = page_command(tutorial.folder, "zh")
    assert command == page_command(tutorial.folder, "en")
    assert command[:2] == ["bash", "fill_names.sh"] and len(command) == 4
    name, org = command[2:]
    result = run_script("fill_names.sh", name, org)
    before = records(tutorial.folder)
    after = records(workdir)
    assert len(after) == len(before)
    text = json.dumps(after, ensure_ascii=False)
    assert not any(p in text for p in PLACEHOLDERS)
    for old, new in zip(before, after):
        assert new["instruction"] == old["instruction"]
        assert new["output"] == old["output"].replace("<NAME>", name).replace("<ORG>", org)
    # The output the page shows is the script's real output.
    shown = result.stdout.strip()
    assert shown == f"filled {len(before)} answers in {FACTS['identity_file']}: <NAME> -> {name}, <ORG> -> {org}"
    for page in ("index.md", "index.en.md"):
        assert shown in (tutorial.folder / page).read_text(encoding="utf-8")
    # A second run refuses, and leaves the file as it is.
    again = run_script("fill_names.sh", "Other", "Other", check=False)
    assert again.returncode == 2 and "filled in already" in again.stderr
    assert records(workdir) == after


@pytest.mark.parametrize("args, message", [
    ((), "usage:"),
    (("only-a-name",), "usage:"),
    (("", "org"), "usage:"),
    (("name", ""), "usage:"),
    (("SCOW\tAssistant", "org"), "the assistant name contains a control character"),
    (("SCOW", "Example\nUniversity"), "the organisation contains a control character"),
    (("bell\x07", "org"), "the assistant name contains a control character"),
    (("del\x7f", "org"), "the assistant name contains a control character"),
    (("caf\udce9", "org"), "the assistant name is not valid UTF-8"),  # a Latin-1 byte: the name, not the file
    (("SCOW", "\udcc4\udce3\udcba\udcc3"), "the organisation is not valid UTF-8"),  # 你好 in GBK
    (("<ORG> bot", "org"), "the assistant name contains the placeholder"),  # would be replaced in turn
    (("bot", "the <NAME> lab"), "the organisation contains the placeholder"),
    (("name", "org", "missing.json"), "missing.json not found"),
])


def test_fill_names_rejects_bad_input(workdir, run_script, args, message):
    before = (workdir / FACTS["identity_file"]).read_bytes()
    files = sorted(p.name for p in workdir.iterdir())
    result = run_script("fill_names.sh", *args, check=False)
    assert result.returncode == 2, result.output
    assert message in result.stderr, result.output
    assert "filled" not in result.stdout
    assert (workdir / FACTS["identity_file"]).read_bytes() == before, "the data file must stay as it was"
    assert sorted(p.name for p in workdir.iterdir()) == files, "no temporary file left"


@pytest.mark.parametrize("name, org", [
    ('Say "hi"', "Org"),
    ("back\\slash", "C:\\new"),
    ("A & B | C", "a/b/c"),
    ("\\u0000 and \\n", "&&"),  # backslash sequences stay literal text, not JSON escapes
])


def test_fill_names_escapes_quotes_and_backslashes(tutorial, workdir, run_script, name, org):
    """Any printable name gives valid JSON whose answers hold the name exactly as typed."""
    result = run_script("fill_names.sh", name, org)
    after = records(workdir)  # json.loads: fails on invalid JSON
    for old, new in zip(records(tutorial.folder), after):
        assert new["output"] == old["output"].replace("<NAME>", name).replace("<ORG>", org)
    assert result.stdout.startswith(f"filled {len(after)} answers")


def test_fill_names_checks_the_result_as_json(workdir, run_script):
    """A data file the reader broke (a trailing comma) is not reported as filled, and is left as it was."""
    path = workdir / FACTS["identity_file"]
    broken = path.read_text(encoding="utf-8").rstrip().removesuffix("]").rstrip() + ",\n]\n"
    path.write_text(broken, encoding="utf-8")
    result = run_script("fill_names.sh", "SCOW", "Org", check=False)
    assert result.returncode == 2, result.output
    assert "would not be valid UTF-8 JSON" in result.stderr and "json.tool" in result.stderr
    assert path.read_text(encoding="utf-8") == broken


def test_fill_names_needs_python_to_check(workdir, run_script, tmp_path):
    bin_dir = tmp_path / "bin-without-python"
    bin_dir.mkdir()
    for tool in ("bash", "sed", "grep", "mktemp", "cat", "rm"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    before = (workdir / FACTS["identity_file"]).read_bytes()
    result = run_script("fill_names.sh", "SCOW", "Org", env={"PATH": str(bin_dir)}, check=False)
    assert result.returncode == 2, result.output
    assert "neither python3 nor python was found" in result.stderr
    assert (workdir / FACTS["identity_file"]).read_bytes() == before


def test_llamafactory_loads_the_filled_dataset(tutorial, workdir, run_script, tmp_path):
    run_script("fill_names.sh", "SCOW Assistant", "Example University")
    env = envs.ensure_env(other_tutorial(9).folder)  # the environment that trains on this dataset (Tutorial 9)
    home = tmp_path / "lf-home"
    home.mkdir()
    result = subprocess.run([str(env / "bin" / "python"), str(FIXTURES / "t05_load_dataset.py"), str(workdir),
                             FACTS["identity_dataset"]], capture_output=True, text=True, timeout=600,
                            env=isolated_env(home, env / "bin", None))
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    data = records(workdir)
    assert loaded["load_from"] == "file" and loaded["formatting"] == "alpaca"
    assert loaded["file_name"] == FACTS["identity_file"]
    assert loaded["count"] == len(data)
    first = loaded["examples"][0]
    assert first["prompt"] == [{"role": "user", "content": data[0]["instruction"]}]
    assert first["response"] == [{"role": "assistant", "content": data[0]["output"]}]
    assert "SCOW Assistant" in first["response"][0]["content"]


# check_dataset.py: the one dataset check of Tutorials 9, 10, 12 and 13. Each case changes a fresh copy of the
# published folder as a reader might; the checker must pass exactly what LLaMA-Factory loads, and say in words
# what is wrong with the rest (the file and line, the key to rename).


@pytest.mark.parametrize("case", DATASET_CASES)
def test_check_dataset_passes_what_llamafactory_loads_and_names_the_rest(run_script, tmp_path, case):
    folder = tmp_path / "dataset"
    dataset = dataset_case(folder, case)
    sft = other_tutorial(9).folder / "sft.yaml"  # the config the training scripts hand it
    result = run_script("check_dataset.py", str(folder), str(sft), f"dataset={dataset}", check=False)
    assert "Traceback" not in result.output, result.output
    words = DATASET_CASES[case][2]
    if words is None:
        assert result.returncode == 0, result.output
        shown = [line.split(":")[0] for line in result.stdout.splitlines()]
        assert shown == [f"dataset {name.strip()}" for name in dataset.split(",")]
        assert all(" 48 records " in line for line in result.stdout.splitlines()), result.stdout
    else:
        assert result.returncode == 2, result.output
        assert result.stderr.startswith("error: ") and words in result.stderr, result.stderr
        assert result.stdout == ""


def test_check_dataset_reads_the_names_as_the_config_writes_them(run_script, tmp_path):
    folder = tmp_path / "dataset"
    dataset_case(folder, "space after the comma")
    config = tmp_path / "two.yaml"
    config.write_text(f"stage: sft\ndataset: {FACTS['identity_dataset']}, my_data  # both\n", encoding="utf-8")
    both = run_script("check_dataset.py", str(folder), str(config))
    assert [line.split(":")[0] for line in both.stdout.splitlines()] == [
        f"dataset {FACTS['identity_dataset']}", "dataset my_data"]
    quiet = run_script("check_dataset.py", str(folder), str(config), "--quiet")
    assert quiet.stdout == ""
    several = run_script("check_dataset.py", f"{folder}:{folder}", str(config), check=False)
    assert several.returncode == 2 and "more than one dataset attached" in several.stderr


def test_llamafactory_agrees_with_check_dataset(tmp_path):
    """LLaMA-Factory (Tutorial 9's environment) loads every case the checker passes and fails on every case it
    refuses: the checker is neither stricter nor looser than the trainer."""
    cases = []
    for number, case in enumerate(DATASET_CASES):
        folder = tmp_path / f"case-{number}"
        cases.append([str(folder), dataset_case(folder, case)])
    (tmp_path / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    env = envs.ensure_env(other_tutorial(9).folder)
    home = tmp_path / "lf-home"
    home.mkdir()
    result = subprocess.run([str(env / "bin" / "python"), str(FIXTURES / "t05_llamafactory_verdicts.py"),
                             str(tmp_path / "cases.json")], capture_output=True, text=True, timeout=900,
                            env=isolated_env(home, env / "bin", None), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    verdicts = dict(zip(DATASET_CASES, json.loads(result.stdout.strip().splitlines()[-1]), strict=True))
    for case, verdict in verdicts.items():
        assert verdict["ok"] == (DATASET_CASES[case][2] is None), (case, verdict)
    assert verdicts["published"]["count"] == len(records(other_tutorial(5).folder))
    assert "KeyError" in verdicts["other keys, no columns"]["error"]  # what the reader met without the checker


SEARCH_PROBES = {"zh": ["身份认知", "身份 认知", "dataset_info.json"], "en": ["dataset_info.json", "identity dataset"]}


def test_page_walk(page_walk, tutorial):
    """The page's blocks in page order: download and fill in on the login node, the registered folder attached to a
    container at $SCOW_AI_DATASET_PATH, a new version copied on the login node."""
    walk = page_walk()
    folder = walk.home / "datasets" / "scow-identity"
    walk.dataset = folder  # what registering the folder and picking it in the job's form attaches
    result = walk.run()
    assert result.run_count == 5
    assert result.output(1).strip() == (f"filled 48 answers in {FACTS['identity_file']}: <NAME> -> SCOW 助手, "
                                        "<ORG> -> 某某大学计算中心")
    checked = result.output(2).strip()
    assert checked == f"dataset {FACTS['identity_dataset']}: {FACTS['identity_file']}, 48 records (alpaca)"
    for page in ("index.md", "index.en.md"):
        assert checked in (tutorial.folder / page).read_text(encoding="utf-8")
    listed = result.output(3).split()
    assert listed[0] == "/mnt/scow/dataset" and {"dataset_info.json", FACTS["identity_file"]} <= set(listed[1:])
    assert "SCOW 助手" in (walk.home / "datasets" / "scow-identity-v2" / FACTS["identity_file"]).read_text("utf-8")
    page_walk.same_blocks("en")
