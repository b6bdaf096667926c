"""Contexts in parallel in one process: the same records as a sequential run, faults and Ctrl-C resumable."""
from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest

from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.results import first_by_key
from comam_bench.runner import Run, RunConfig, RunError

TIMINGS = {"seconds", "wall_seconds", "created", "execution", "resources"}  # measured, per process


@pytest.fixture(autouse=True, scope="module")
def generated_data():
    """Generate the synthetic data first: a record notes whether its run generated the files or found them."""
    from comam_bench.data import load_task

    for task in ("synthetic-32k", "personamem-mini"):
        load_task(task)


def untimed(obj):
    """A record, sample or event without its timings (and the execution section): what must not differ."""
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if k not in TIMINGS}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


def rows(run_dir, name):
    return [json.loads(line) for line in (run_dir / name).read_text().splitlines()]


def first(events):
    return list(first_by_key(events, "key").values())


def by(key, items):
    return sorted((untimed(r) for r in items), key=lambda r: r[key])


def config(tmp_path, results="seq", **kw):
    base = dict(task="synthetic-32k", system="helpers_systems:Summarizer", model="scripted:by-hash",
                embedder="hash:64", results_dir=tmp_path / results, batch_size=3, run_id="r")
    base.update(kw)
    return RunConfig(**base)


def hashed_answers(chat):
    """A content-dependent scripted model: a context mixed up with another would change the answers."""
    digest = hashlib.sha256(json.dumps(chat).encode()).digest()
    if chat[-1]["content"].startswith("Summarize: "):
        return f"note {digest[0] % 7}"
    return f"<final_answer>({'abcd'[digest[1] % 4]})"


def execute(cfg, **kw):
    return Run(cfg, llm=ScriptedLLM(hashed_answers, spec="scripted:by-hash") if cfg.model else None, **kw).execute()


def assert_same_run(tmp_path, a="seq", b="par"):
    da, db = tmp_path / a / "runs" / "r", tmp_path / b / "runs" / "r"
    sa, sb = rows(da, "samples.jsonl"), rows(db, "samples.jsonl")
    assert len(sb) == len({s["question_id"] for s in sb}), "no question written twice"
    assert by("question_id", sa) == by("question_id", sb)
    # A resumed context is ingested again; as in any resumed run, the record counts each span once (the first).
    assert by("key", first(rows(da, "ingest.jsonl"))) == by("key", first(rows(db, "ingest.jsonl")))
    ra, rb = (json.loads((d / "run.json").read_text()) for d in (da, db))
    assert untimed(ra) == untimed(rb)
    return ra, rb


@pytest.mark.parametrize("system", ["helpers_systems:Summarizer", "helpers_systems:Stateful"])
def test_threads_write_the_records_of_a_sequential_run(tmp_path, system):
    model = "scripted:by-hash" if system.endswith("Summarizer") else None
    execute(config(tmp_path, system=system, model=model))
    seen = []
    execute(config(tmp_path, "par", system=system, model=model, parallel=3),
            progress=lambda done, total: seen.append((done, total)))
    seq, par = assert_same_run(tmp_path)
    assert seq["execution"] == {"mode": "sequential", "parallel": 1, "workers": 1}
    assert par["execution"]["mode"] == "threads" and par["execution"]["parallel"] == 3
    assert par["execution"]["llm_sharing"] == ("batch" if model else None)
    # Progress counts every worker's questions, one call per answered batch, up to all of them.
    assert [d for d, _ in seen] == sorted(d for d, _ in seen) and seen[-1] == (112, 112)


def test_contexts_really_overlap(tmp_path):
    """With --parallel 4 and a thread-safe model, calls of several contexts are in flight at the same time."""
    in_flight, most, lock = [0], [0], threading.Lock()

    class Concurrent(ScriptedLLM):
        thread_safe = True

    def respond(chat):
        with lock:
            in_flight[0] += 1
            most[0] = max(most[0], in_flight[0])
        time.sleep(0.002)
        with lock:
            in_flight[0] -= 1
        return hashed_answers(chat)

    record = Run(config(tmp_path, "par", parallel=4, limit=40), llm=Concurrent(respond, spec="x")).execute()
    assert most[0] >= 2 and record["execution"]["llm_sharing"] == "thread-safe"


@pytest.mark.parametrize("sharing", ["lock", "batch"])
def test_tiny_transformers_model_shared_by_threads(tmp_path_factory, tmp_path, sharing):
    from comam_bench.data import load_task
    from comam_bench.registry import load_task_spec
    from comam_bench.training.tiny import save_tiny_model

    data = load_task(load_task_spec("personamem-mini"))
    spec = save_tiny_model(tmp_path_factory.mktemp("tiny"), [m.content for c in data.contexts.values() for m in c])
    cfg = dict(task="personamem-mini", model=spec, batch_size=2)
    Run(config(tmp_path, **cfg)).execute()
    record = Run(config(tmp_path, "par", parallel=2, llm_sharing=sharing, **cfg)).execute()
    assert record["execution"]["llm_sharing"] == sharing
    assert_same_run(tmp_path)


def test_a_failed_context_is_named_and_resume_finishes_it(tmp_path, monkeypatch):
    faults = tmp_path / "faults"
    faults.mkdir()
    monkeypatch.setenv("COMAM_TEST_FAULT_DIR", str(faults))
    execute(config(tmp_path, system="helpers_parallel:Faulty"))
    contexts = list(dict.fromkeys(s["context_id"] for s in rows(tmp_path / "seq" / "runs" / "r", "samples.jsonl")))
    (faults / f"raise-{contexts[1]}").touch()
    cfg = config(tmp_path, "par", system="helpers_parallel:Faulty", parallel=2)
    with pytest.raises(RunError, match=f"context {contexts[1]} failed.*--resume"):
        execute(cfg)
    run_dir = tmp_path / "par" / "runs" / "r"
    assert not (run_dir / "run.json").exists()
    written = rows(run_dir, "samples.jsonl")
    assert any(s["context_id"] == contexts[1] for s in written), "answers before the failure are kept"
    assert {s["context_id"] for s in written} >= {contexts[0]}
    cfg.resume = True
    execute(cfg)
    assert_same_run(tmp_path)


def test_ctrl_c_stops_every_worker_and_leaves_a_resumable_run(tmp_path):
    before = threading.active_count()
    cfg = config(tmp_path, "par", parallel=3)

    def interrupt(done, total):
        if done >= 10:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        execute(cfg, progress=interrupt)
    assert threading.active_count() == before, "no worker thread left running"
    run_dir = tmp_path / "par" / "runs" / "r"
    assert not (run_dir / "run.json").exists() and 10 <= len(rows(run_dir, "samples.jsonl")) < 112
    cfg.resume = True
    execute(cfg)
    execute(config(tmp_path))
    assert_same_run(tmp_path)


def test_execution_options_are_checked_up_front(tmp_path, monkeypatch):
    import sys

    with pytest.raises(RunError, match="apply to Ray runs only"):
        Run(config(tmp_path, ray_workers=2)).prepare()
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    with pytest.raises(RunError, match=r"pip install 'comam-bench\[ray\]'"):
        Run(config(tmp_path, ray="auto")).prepare()
    assert not (tmp_path / "seq").exists(), "no run directory for a run that cannot start"


def test_an_unreachable_cluster_fails_before_any_work(tmp_path):
    import socket

    ray = pytest.importorskip("ray", reason="Ray is installed by scripts/setup.sh; this machine has none")
    assert not ray.is_initialized()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the with-block ends: nothing listens there
    with pytest.raises(RunError, match=f"no Ray cluster answers at 127.0.0.1:{port}"):
        Run(config(tmp_path, ray=f"127.0.0.1:{port}")).prepare()
    assert not (tmp_path / "seq").exists() and not ray.is_initialized()


def test_batching_queue_merges_waiting_greedy_calls_and_keeps_sampled_ones_apart():
    from comam_bench.llm.shared import BatchingLLM

    class Slow(ScriptedLLM):
        def generate(self, chats, **kw):
            time.sleep(0.05)  # while one call runs, the others queue up
            return super().generate(chats, **kw)

    inner = Slow(lambda chat: "re: " + chat[-1]["content"])
    shared = BatchingLLM(inner)
    out = {}

    def ask(i, temperature):
        out[i] = shared.generate([[{"role": "user", "content": f"q{i}"}]], max_new_tokens=4, temperature=temperature)

    threads = [threading.Thread(target=ask, args=(i, 0.0)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: g[0].text for i, g in out.items()} == {i: f"re: q{i}" for i in range(6)}
    assert shared.calls < 6 and max(n for _, n in inner.batches) > 1
    inner.batches.clear()
    threads = [threading.Thread(target=ask, args=(i, 0.7)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [n for _, n in inner.batches] == [1, 1, 1], "a sampled call is never merged with another"
