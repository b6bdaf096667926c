"""The runner: each message ingested once, questions see exactly their prefix, resume loses nothing."""
from __future__ import annotations

import json

import pytest

import helpers_systems
from comam_bench.runner import Run, RunConfig, RunError, ordered_questions


def config(tmp_path, **kw):
    base = dict(task="personamem-mini", system="helpers_systems:Recorder", model=None, embedder="hash:64",
                results_dir=tmp_path / "results", batch_size=3)
    base.update(kw)
    return RunConfig(**base)


def samples(record_dir):
    return [json.loads(line) for line in (record_dir / "samples.jsonl").read_text().splitlines()]


def test_each_message_ingested_once_and_questions_see_their_prefix(tmp_path):
    helpers_systems.LOG.clear()
    record = Run(config(tmp_path)).execute()
    resets = [e for e in helpers_systems.LOG if e[0] == "reset"]
    assert len(resets) == record["task"]["n_contexts"] >= 2
    # Per context the ingested spans tile [0, last end index) without gaps or overlaps.
    spans, pos = [], None
    for event in helpers_systems.LOG:
        if event[0] == "reset":
            pos = 0
        elif event[0] == "ingest":
            assert event[1] == pos
            pos += event[2]
    answered = [e[1] for e in helpers_systems.LOG if e[0] == "answer"]
    assert len(answered) == len(set(answered)) == record["scores"]["n"]


def test_questions_ordered_by_context_then_end_index(tmp_path):
    run = Run(config(tmp_path))
    run.prepare()
    qs = run.questions
    seen = []
    for q in qs:
        if not seen or seen[-1] != q.context_id:
            assert q.context_id not in seen, "a context's questions are contiguous"
            seen.append(q.context_id)
    for a, b in zip(qs, qs[1:]):
        if a.context_id == b.context_id:
            assert a.end_index <= b.end_index
    assert ordered_questions(run.data, 5) == qs[:5]


@pytest.mark.parametrize("system", ["helpers_systems:Recorder", "helpers_systems:Stateful"])
def test_interrupted_run_resumes_to_the_same_result(tmp_path, system):
    config = lambda tmp_path, **kw: globals()["config"](tmp_path, system=system, **kw)  # noqa: E731
    full = Run(config(tmp_path, run_id="full")).execute()
    helpers_systems.FAIL_AFTER["n"] = 7
    try:
        with pytest.raises(KeyboardInterrupt):
            Run(config(tmp_path, run_id="cut")).execute()
    finally:
        helpers_systems.FAIL_AFTER["n"] = -1
    cut_dir = tmp_path / "results" / "runs" / "cut"
    assert not (cut_dir / "run.json").exists(), "an interrupted run leaves no record"
    saved = samples(cut_dir)
    assert 0 < len(saved) <= 7  # the batch holding the 8th answer was lost whole, earlier ones were kept
    with open(cut_dir / "samples.jsonl", "a") as fh:
        fh.write('{"question_id": "torn')  # a kill in the middle of a write
    with pytest.raises(RunError, match="--resume"):
        Run(config(tmp_path, run_id="cut")).execute()
    with pytest.raises(RunError, match="different spec"):
        Run(config(tmp_path, run_id="cut", resume=True, seed=1)).execute()
    resumed = Run(config(tmp_path, run_id="cut", resume=True)).execute()
    rows = samples(cut_dir)
    assert len(rows) == len({r["question_id"] for r in rows}) == full["scores"]["n"]
    key = lambda r: (r["question_id"], r["extracted"], r["correct"])  # noqa: E731
    assert sorted(map(key, rows)) == sorted(map(key, samples(tmp_path / "results" / "runs" / "full")))
    assert resumed["scores"]["accuracy"] == full["scores"]["accuracy"]


def test_complete_run_is_not_overwritten_silently(tmp_path):
    Run(config(tmp_path, run_id="x")).execute()
    with pytest.raises(RunError, match="already complete"):
        Run(config(tmp_path, run_id="x")).execute()
    Run(config(tmp_path, run_id="x", overwrite=True)).execute()


def test_record_has_provenance(tmp_path):
    rec = Run(config(tmp_path, limit=4)).execute()
    assert rec["format_version"] == 3 and rec["status"] == "complete"  # the record's format (comam_bench.record)
    assert rec["spec"]["format_version"] == 1  # the spec's: hashed into run ids, so it stays
    assert rec["scores"]["n"] == 4 and rec["limit"] == 4
    assert len(rec["spec_hash"]) == 64 and rec["spec"]["seed"] == 0
    assert rec["task"]["files"] and all(len(h) == 64 for h in rec["task"]["files"].values())
    assert "python" in rec["env"] and "commit" in rec["git"]
    assert rec["model"] == {"spec": None}


def test_memory_reuse_processes_fewer_tokens_than_rebuilding(tmp_path):
    model = "scripted:constant=<final_answer>(a)"  # the scripted double, named through the model-spec syntax
    reuse = Run(config(tmp_path, system="helpers_systems:Summarizer", model=model)).execute()
    rebuild = Run(config(tmp_path, system="helpers_systems:Summarizer", model=model,
                         rebuild_per_question=True)).execute()
    assert reuse["scores"]["n"] == rebuild["scores"]["n"]
    assert rebuild["cost"]["ingest"]["prompt_tokens"] > reuse["cost"]["ingest"]["prompt_tokens"]
    assert reuse["cost"]["per_agent"]["summarize"]["calls"] == reuse["cost"]["ingest"]["calls"]
    # With reuse, every message is summarised exactly once per context.
    messages = sum(ev_end for ev_end in _last_ends(tmp_path, reuse["run_id"]))
    assert reuse["cost"]["ingest"]["calls"] == messages


def _last_ends(tmp_path, run_id):
    events = [json.loads(x) for x in (tmp_path / "results" / "runs" / run_id / "ingest.jsonl").read_text().splitlines()]
    last = {}
    for ev in events:
        last[ev["context_id"]] = max(last.get(ev["context_id"], 0), ev["end"])
    return last.values()


def test_record_is_built_before_the_model_is_closed(tmp_path, monkeypatch):
    import comam_bench.llm as llm_pkg
    from comam_bench.llm.scripted import ScriptedLLM

    class Closing(ScriptedLLM):
        closed = False

        def close(self):
            self.closed = True

        def identity(self):
            assert not self.closed, "identity() asked after close()"
            return {"spec": "closing"}

    model = Closing()
    monkeypatch.setattr(llm_pkg, "load_llm", lambda spec: model)
    rec = Run(config(tmp_path, system="no-memory", model="scripted:closing", limit=2)).execute()
    assert rec["model"] == {"spec": "closing"} and model.closed


def test_git_state_is_taken_when_the_code_is_loaded(tmp_path, monkeypatch):
    """A commit made while a run goes on must not be claimed by its record."""
    import comam_bench.runner as runner_module

    states = iter([{"commit": "at-start", "dirty": False}, {"commit": "later", "dirty": True}])
    monkeypatch.setattr(runner_module, "git_state", lambda root: next(states))
    record = Run(config(tmp_path)).execute()
    assert record["git"] == {"commit": "at-start", "dirty": False}
