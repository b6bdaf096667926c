"""benchmarks/leaderboard_128k.sh end to end on the 128k fixture (a model-free system, one question per
history): the runs go through the CLI with the per-context limit, the summary shows time and peak memory,
and a second call skips the complete run; a missing --data-dir exits 2."""
import json
import os
import subprocess
import sys

from helpers_paths import FIXTURES, REPO

SCRIPT = REPO / "benchmarks" / "leaderboard_128k.sh"


def script(tmp_path, *args, **env):
    py = f"env PYTHONPATH={REPO} HF_HUB_OFFLINE=1 COMAM_BENCH_CACHE={tmp_path / 'cache'} {sys.executable}"
    full_env = {**os.environ, "BIN": f"{py} -m comam_bench.cli.main", "PYTHON": py, **env}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=full_env,
                          timeout=600, cwd=tmp_path)


def test_script_runs_resumably_and_reports_time_and_memory(tmp_path):
    data = FIXTURES / "data" / "prerelease"
    args = ["--data-dir", os.path.relpath(data, tmp_path), "--results-dir", "res", "--stage1-limit-per-context", "1"]
    first = script(tmp_path, *args, STAGE1_SYSTEMS="longest-option")
    assert first.returncode == 0, first.stderr
    run_id = "personamem-128k--longest-option--smollm2-w2048--likelihood--pc1--s0"  # the default --model's tag
    record = json.loads((tmp_path / "res" / "runs" / run_id / "run.json").read_text())
    assert record["protocol"]["name"] == "likelihood" and record["selection"]["per_context"] == 1
    assert record["scores"]["n"] == record["task"]["n_contexts"]  # one question from each history
    row = next(line for line in first.stdout.splitlines() if line.startswith(f"| {run_id} |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == str(record["scores"]["n"]) and float(cells[6]) > 10  # peak RSS in MiB
    assert float(cells[5]) >= 0  # CPU seconds
    saved = (tmp_path / "res" / "benchmarks" / "leaderboard_128k.md").read_text()
    assert row in saved and saved.startswith("# The real personamem-128k runs")
    again = script(tmp_path, *args, STAGE1_SYSTEMS="longest-option")
    assert again.returncode == 0 and f"= {run_id} is complete" in again.stdout


def test_script_refuses_a_missing_data_dir(tmp_path):
    result = script(tmp_path, "--data-dir", tmp_path / "nope")
    assert result.returncode == 2 and "--data-dir DIR must name the folder" in result.stderr
