"""Exit codes scripts can trust: `data validate` is non-zero when a run would skip or refuse, agrees with
`run` on header-only files and unknown types; `--resume` on a complete run is a no-op that exits 0
(issue 11, item 4)."""
from __future__ import annotations

import json
import shutil

import pytest

from helpers_cli import cli
from helpers_paths import FIXTURES

FIX = FIXTURES / "data"


def _header_only(tmp_path):
    folder = tmp_path / "header_only"
    shutil.copytree(FIX / "prerelease", folder)
    path = folder / "questions_128k.csv"
    path.write_text(path.read_text().splitlines(keepends=True)[0])
    return folder


def _no_contexts(tmp_path):
    folder = tmp_path / "no_contexts"
    folder.mkdir()
    shutil.copy(FIX / "prerelease" / "questions_128k.csv", folder)
    return folder


@pytest.mark.parametrize("make, task, code", [
    (lambda t: FIX / "prerelease", "personamem-128k", 0),
    (lambda t: FIX / "bad_rows", "personamem-32k", 1),
    (lambda t: FIX / "unknown_label", "personamem-32k", 2),
    (_header_only, "personamem-128k", 2),
    (_no_contexts, "personamem-128k", 2),
    (lambda t: FIX / "malformed_jsonl", "personamem-32k", 2),
    (lambda t: FIX / "missing_columns", "personamem-32k", 2),
], ids=["clean", "bad-rows", "unknown-label", "header-only", "no-contexts", "malformed-jsonl", "missing-columns"])
def test_validate_exit_code_per_kind_of_file(tmp_path, make, task, code):
    folder = make(tmp_path)
    res = cli(["data", "validate", "--task", task, "--data-dir", folder], tmp_path)
    assert res.returncode == code, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    if code == 0:
        assert "OK" in res.stdout
    if code == 1:
        assert "PROBLEMS FOUND" in res.stdout
    as_json = cli(["data", "validate", "--task", task, "--data-dir", folder, "--json"], tmp_path)
    assert as_json.returncode == code
    if as_json.stdout.strip():
        report = json.loads(as_json.stdout)
        assert report["exit_code"] == code and report["ok"] == (code == 0)


@pytest.mark.parametrize("make, task", [(_header_only, "personamem-128k"),
                                        (lambda t: FIX / "unknown_label", "personamem-32k")],
                         ids=["header-only", "unknown-label"])
def test_run_refuses_what_validate_refuses(tmp_path, make, task):
    folder = make(tmp_path)
    run = cli(["run", "--system", "longest-option", "--task", task, "--data-dir", folder,
               "--results-dir", tmp_path / "r"], tmp_path)
    validate = cli(["data", "validate", "--task", task, "--data-dir", folder], tmp_path)
    assert run.returncode == validate.returncode == 2, run.stderr + validate.stdout
    assert "refuse" in validate.stdout


def test_resume_of_a_complete_run_says_so_and_exits_0(tmp_path):
    args = ["run", "--system", "longest-option", "--task", "personamem-mini", "--limit", "3",
            "--results-dir", tmp_path / "r", "--run-id", "done"]
    assert cli(args, tmp_path).returncode == 0
    record = (tmp_path / "r" / "runs" / "done" / "run.json").read_bytes()
    again = cli([*args, "--resume"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert "already complete" in again.stdout and "nothing to do" in again.stdout
    assert (tmp_path / "r" / "runs" / "done" / "run.json").read_bytes() == record
    plain = cli(args, tmp_path)
    assert plain.returncode == 2 and "--overwrite" in plain.stderr
