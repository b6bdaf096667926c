"""A quote left open in a row's last field merges it with the next rows; every physical row must still be
answered or counted as skipped, with its line number (issue 11, item 2)."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from comam_bench.data import load_task, validate_task
from comam_bench.data.synthetic import generate
from helpers_cli import cli

QUESTIONS = "questions_mini.csv"


def _mini_with_runaway_quote(tmp_path: Path, line_no: int) -> Path:
    """The mini task with a quote opened in the last field of physical line `line_no` and never closed."""
    folder = tmp_path / "data"
    generate(folder, preset="mini", seed=0)
    path = folder / QUESTIONS
    lines = path.read_text().splitlines(keepends=True)
    head, sep, last = lines[line_no - 1].rstrip("\r\n").rpartition(",")
    lines[line_no - 1] = f'{head},"{last}\n'
    path.write_text("".join(lines))
    return folder


def _data_rows(folder: Path) -> int:
    return sum(1 for line in (folder / QUESTIONS).read_text().splitlines()[1:] if line.strip())


@pytest.mark.parametrize("line_no", [5, 2, 28])
def test_every_physical_row_is_answered_or_counted(tmp_path, line_no):
    folder = _mini_with_runaway_quote(tmp_path, line_no=line_no)
    task = load_task("personamem-mini", folder)
    assert len(task.questions) + len(task.bad_rows) == _data_rows(folder)
    (bad,) = task.bad_rows
    assert f"line {line_no}" in bad.problem and "quote" in bad.problem
    # the rows after the broken one are read on their own, not swallowed
    next_id = (folder / QUESTIONS).read_text().splitlines()[line_no].split(",")[1]
    assert next_id in {q.id for q in task.questions}


def test_a_quote_opened_in_the_question_text(tmp_path):
    folder = tmp_path / "data"
    generate(folder, preset="mini", seed=0)
    path = folder / QUESTIONS
    lines = path.read_text().splitlines(keepends=True)
    cells = lines[3].split(",")
    cells[10] = '"' + cells[10]  # user_question_or_message opens a quote it never closes
    lines[3] = ",".join(cells)
    path.write_text("".join(lines))
    task = load_task("personamem-mini", folder)
    assert len(task.questions) + len(task.bad_rows) == _data_rows(folder)
    assert any("line 4" in b.problem for b in task.bad_rows)


def test_validate_lists_the_runaway_quote(tmp_path):
    folder = _mini_with_runaway_quote(tmp_path, line_no=5)
    report = validate_task("personamem-mini", folder)
    assert any("line 5" in b.problem and "quote" in b.problem for b in report.bad_rows)
    assert report.facts["rows"] == _data_rows(folder)
    assert not report.ok


def test_a_quoted_newline_in_the_question_text_is_still_one_row(tmp_path):
    folder = tmp_path / "data"
    generate(folder, preset="mini", seed=0)
    path = folder / QUESTIONS
    before = len(load_task("personamem-mini", folder).questions)
    rows = list(csv.reader(io.StringIO(path.read_text())))
    column = rows[0].index("user_question_or_message")
    rows[1][column] += "\nand a second line"  # a legitimate multi-line cell
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    path.write_text(out.getvalue())
    task = load_task("personamem-mini", folder)
    assert len(task.questions) == before and not task.bad_rows
    assert any(q.text.endswith("and a second line") for q in task.questions)


def test_run_record_counts_the_skipped_row(tmp_path):
    folder = _mini_with_runaway_quote(tmp_path, line_no=5)
    res = cli(["run", "--system", "longest-option", "--task", "personamem-mini", "--data-dir", folder,
               "--results-dir", tmp_path / "results"], tmp_path)
    assert res.returncode == 0, res.stderr
    (run_dir,) = (tmp_path / "results" / "runs").iterdir()
    record = json.loads((run_dir / "run.json").read_text())
    assert record["scores"]["n"] + record["skipped"]["count"] == _data_rows(folder)
