"""Contexts as Ray work on a real local Ray (2 CPUs, one session for the module): the same records as a
sequential run, with the scripted model and a tiny random transformers model; a killed worker's context
is named, and --resume finishes it with nothing lost or duplicated."""
from __future__ import annotations

import json

import pytest

from comam_bench.runner import Run, RunConfig, RunError
from test_parallel import assert_same_run, generated_data, rows  # noqa: F401 - the fixture is used
from helpers_paths import TESTS

ray = pytest.importorskip("ray", reason="Ray is installed by scripts/setup.sh (the [ray] extra); not here")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One local Ray for the module; workers find the test systems and the fault markers through env vars."""
    faults = tmp_path_factory.mktemp("faults")
    env = {"PYTHONPATH": str(TESTS), "COMAM_TEST_FAULT_DIR": str(faults), "OMP_NUM_THREADS": "1"}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
    yield faults
    ray.shutdown()


def config(tmp_path, results="seq", **kw):
    base = dict(task="synthetic-32k", system="helpers_systems:Stateful", model=None, embedder="hash:64",
                results_dir=tmp_path / results, batch_size=3, run_id="r")
    base.update(kw)
    return RunConfig(**base)


def test_ray_workers_write_the_records_of_a_sequential_run(cluster, tmp_path):
    Run(config(tmp_path)).execute()
    seen = []
    record = Run(config(tmp_path, "par", ray="auto", parallel=2),
                 progress=lambda done, total: seen.append(done)).execute()
    assert_same_run(tmp_path)
    assert record["execution"]["mode"] == "ray" and record["execution"]["workers"] == 2
    assert seen == sorted(seen) and seen[-1] == 112 and len(seen) > 8  # rows stream in as they are made


def test_per_context_selection_on_ray_workers_and_their_peak_memory(cluster, tmp_path):
    Run(config(tmp_path, limit_per_context=3)).execute()
    record = Run(config(tmp_path, "par", ray="auto", limit_per_context=3)).execute()
    seq, _ = assert_same_run(tmp_path)  # the same questions, rows and record (resources masked: measured)
    assert seq["scores"]["n"] == 3 * seq["task"]["n_contexts"] == record["selection"]["n_selected"]
    peaks = record["resources"]["peak_rss_mb"]
    assert len(peaks["workers"]) == 2 and all(p > 10 for p in peaks["workers"])  # each worker's own process
    assert peaks["max_worker"] == max(peaks["workers"])
    assert len(record["resources"]["cpu_seconds"]["workers"]) == 2


def test_tiny_transformers_model_on_ray_workers(cluster, tmp_path, tmp_path_factory):
    from comam_bench.data import load_task
    from comam_bench.registry import load_task_spec
    from comam_bench.training.tiny import save_tiny_model

    data = load_task(load_task_spec("personamem-mini"))
    spec = save_tiny_model(tmp_path_factory.mktemp("tiny"), [m.content for c in data.contexts.values() for m in c])
    cfg = dict(task="personamem-mini", system="helpers_systems:Summarizer", model=spec, batch_size=2)
    Run(config(tmp_path, **cfg)).execute()
    record = Run(config(tmp_path, "par", ray="auto", **cfg)).execute()
    _, par = assert_same_run(tmp_path)
    assert record["model"]["backend"] == "hf" and par["execution"]["workers"] == 2


def test_a_killed_worker_loses_only_its_context_and_resume_finishes_it(cluster, tmp_path):
    cfg = dict(system="helpers_parallel:Faulty", model="scripted:constant=<final_answer>(c)")
    Run(config(tmp_path, **cfg)).execute()
    contexts = list(dict.fromkeys(s["context_id"] for s in rows(tmp_path / "seq" / "runs" / "r", "samples.jsonl")))
    (cluster / f"die-{contexts[0]}").touch()  # the worker running the first context exits mid-context
    par = config(tmp_path, "par", ray="auto", **cfg)
    with pytest.raises(RunError, match=f"context {contexts[0]} was lost: worker . died.*--resume"):
        Run(par).execute()
    run_dir = tmp_path / "par" / "runs" / "r"
    written = rows(run_dir, "samples.jsonl")
    finished = {c for c in contexts[1:] if sum(s["context_id"] == c for s in written) == 28}
    assert len(finished) == 3, "the other worker took every other context"
    assert not (run_dir / "run.json").exists()
    par.resume = True
    Run(par).execute()
    assert_same_run(tmp_path)
    assert json.loads((run_dir / "run.json").read_text())["scores"]["n"] == 112


def test_ctrl_c_stops_every_ray_worker_and_leaves_a_resumable_run(cluster, tmp_path):
    import time

    def interrupt(done, total):
        if done >= 10:
            raise KeyboardInterrupt

    par = config(tmp_path, "par", ray="auto")
    with pytest.raises(KeyboardInterrupt):
        Run(par, progress=interrupt).execute()
    deadline = time.time() + 20
    while ray.available_resources().get("CPU", 0) < 2 and time.time() < deadline:
        time.sleep(0.2)  # killed workers hand their CPUs back
    assert ray.available_resources().get("CPU", 0) == 2, "no worker left running"
    run_dir = tmp_path / "par" / "runs" / "r"
    assert not (run_dir / "run.json").exists() and 10 <= len(rows(run_dir, "samples.jsonl")) < 112
    par.resume = True
    Run(par).execute()
    Run(config(tmp_path)).execute()
    assert_same_run(tmp_path)
