"""`tasks` and `systems`: --json that parses, measured times per question, tables not cut when piped."""
import json
import os
import subprocess
import sys

from click.testing import CliRunner

from comam_bench.cli.main import cli
from comam_bench.timings import describe, measured_times
from helpers_paths import REPO

ROOT = REPO


def test_tasks_json_parses_and_carries_measured_times():
    result = CliRunner().invoke(cli, ["tasks", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["task"]: row for row in json.loads(result.output)}
    assert {"personamem-mini", "personamem-128k", "synthetic-32k"} <= set(rows)
    assert rows["personamem-mini"]["seconds_per_question"] == measured_times(ROOT / "results" / "runs")["personamem-mini"]
    assert "seconds to run" not in result.output


def test_systems_json_parses():
    result = CliRunner().invoke(cli, ["systems", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    names = {row["system"] for row in data["systems"]}
    assert {"no-memory", "rag", "comam", "full-context"} <= names
    assert isinstance(data["warnings"], list)


def _record(task, spec, n, answer, ingest):
    return {"task": {"name": task}, "model": {"spec": spec}, "scores": {"n": n},
            "cost": {"wall_seconds": {"answer": answer, "ingest": ingest}}}


def test_measured_times_count_runs_with_a_model_and_memory_building(tmp_path):
    for i, rec in enumerate([_record("t", "smollm2", 10, 90.0, 10.0), _record("t", "smollm2", 4, 8.0, 0.0),
                             _record("t", "smollm2", 2, 30.0, 30.0), _record("t", None, 10, 0.0, 0.0)]):
        (tmp_path / f"r{i}").mkdir()
        (tmp_path / f"r{i}" / "run.json").write_text(json.dumps(rec))
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "run.json").write_text("{")
    times = measured_times(tmp_path)
    assert times == {"t": {"runs": 3, "median": 10.0, "min": 2.0, "max": 30.0}}
    assert describe(times["t"]) == "median 10 s (2.0–30 s) over 3 runs"
    assert describe(None) == "not measured"


def test_tables_are_not_cut_when_piped():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(ROOT)
    for command in ("tasks", "systems"):
        out = subprocess.run([sys.executable, "-m", "comam_bench.cli.main", command], capture_output=True, text=True,
                             env=env, cwd=ROOT, check=True).stdout
        assert "…" not in out
        assert "description" in out.splitlines()[1]
    # One line per system: nothing wraps at 80 columns any more.
    names = json.loads(CliRunner().invoke(cli, ["systems", "--json"]).output)["systems"]
    assert len(out.splitlines()) <= len(names) + 8
    # ...but a paragraph-long description (synthetic-cpu's) wraps instead of making a 1,000-character line
    tasks_out = subprocess.run([sys.executable, "-m", "comam_bench.cli.main", "tasks"], capture_output=True,
                               text=True, env=env, cwd=ROOT, check=True).stdout
    assert max(len(line) for line in tasks_out.splitlines()) < 400
