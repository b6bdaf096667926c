"""benchmarks/cost_measured.py on copies of committed records: a run's CPU, calls and tokens per seed, a
resumed run's partial CPU left out of the mean, and the prediction looked up from cost_model.json."""
import json
import shutil
import sys

from helpers_paths import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import cost_measured  # noqa: E402

RUN = "synthetic-cpu--no-memory--likelihood--s{}"


def _copy(tmp_path, seed, **resources):
    src = REPO / "results" / "runs" / RUN.format(seed)
    dst = tmp_path / "runs" / src.name
    shutil.copytree(src, dst)
    record = json.loads((dst / "run.json").read_text())
    record["resources"].update(resources)
    (dst / "run.json").write_text(json.dumps(record))
    return record


def test_measured_against_predicted(tmp_path):
    a = _copy(tmp_path, 0, cpu_seconds={"main": 60.0, "workers": [30.0]}, session_wall_seconds=1e6)
    b = _copy(tmp_path, 1, cpu_seconds={"main": 6.0}, session_wall_seconds=0.001)  # resumed: partial CPU
    model = {"models": {"smollm2": {"predicted_per_seed": {"no-memory": {"cpu_min": 3.0, "llm_calls": 100,
                                                                          "llm_tokens": 9}}}}}
    [row] = cost_measured.table(tmp_path, model)
    assert row["system"] == "no-memory" and row["seeds"] == [0, 1] and row["resumed"] == 1
    assert row["cpu_min"] == 1.5 and row["cpu_ratio"] == 0.5  # (60 + 30) s of seed 0 only, over 3.0 predicted
    calls = [r["cost"]["ingest"]["calls"] + r["cost"]["answer"]["calls"] for r in (a, b)]
    assert row["calls"] == sum(calls) / 2
    assert row["predicted"] == {"cpu_min": 3.0, "calls": 100, "tokens": 9, "source": "measured sample (smollm2)"}
    text = cost_measured.render([row], "cmd")
    assert "| no-memory | 0,1 (1 resumed) | 1.5 | 3.0 | 0.50 |" in text
    assert cost_measured.table(tmp_path, {"models": {}})[0]["predicted"] is None
