"""What a run keeps of each answer: the memory it was given (any system, from its prompt), each CoMAM
agent's output, clipped to the cap, in memory.jsonl beside samples.jsonl; resume keeps them in step."""
from __future__ import annotations

import json

import pytest

import helpers_systems
from comam_bench.api import Answer, Question
from comam_bench.keep import AUTO_KEEP_MAX_QUESTIONS, clip, kept_row, prompt_memory, read_kept, should_keep
from comam_bench.protocol import memory_chat
from comam_bench.runner import Run, RunConfig

Q = Question(id="q1", type="recall_user_shared_facts", raw_type="r", topic="t", text="Which pet?",
             options=("(a) cat", "(b) dog", "(c) fish", "(d) bird"), options_raw="(a) cat\n(b) dog\n(c) fish\n(d) bird",
             gold="b", context_id="c", end_index=3)


def rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_clip_keeps_head_and_tail_within_the_cap():
    text = "HEAD" + "x" * 5000 + "TAIL"
    clipped, cut = clip(text, 300)
    assert len(clipped) <= 300 and clipped.startswith("HEAD") and clipped.endswith("TAIL")
    assert cut == len(text) - len(clipped.split("\n")[0]) - len(clipped.split("\n")[-1])
    assert f"[{cut} characters cut]" in clipped
    assert clip("short", 300) == ("short", 0) and clip(text, 0) == (text, 0)


def test_memory_comes_from_the_prompt_less_the_question():
    assert prompt_memory(memory_chat("user: I adopted a dog", Q), Q).endswith("user: I adopted a dog")
    assert prompt_memory(memory_chat("", Q), Q) == ""  # only the question: no memory
    own = [{"role": "user", "content": "MEMORY: dog\nQUESTION: Which pet?"}]  # a system's own one-message prompt
    assert "MEMORY: dog" in prompt_memory(own, Q)
    named = kept_row(Q, Answer("(b)", own, {"memory": "dog", "agent_outputs": {"profile": "likes dogs"}}))
    assert named["source"] == "info" and named["memory"] == "dog"
    assert named["agent_outputs"] == {"profile": {"text": "likes dogs", "chars": 10, "cut": 0}}


def test_small_runs_keep_by_default_and_flags_decide():
    assert should_keep(None, AUTO_KEEP_MAX_QUESTIONS) and not should_keep(None, AUTO_KEEP_MAX_QUESTIONS + 1)
    assert should_keep(True, 10 ** 6) and not should_keep(False, 1)


def config(tmp_path, **kw):
    base = dict(task="personamem-mini", system="helpers_systems:Summarizer", model="scripted:constant=(a)",
                embedder="hash:64", results_dir=tmp_path / "results", batch_size=3, run_id="r")
    base.update(kw)
    return RunConfig(**base)


def test_a_run_keeps_the_memory_each_answer_was_given(tmp_path):
    record = Run(config(tmp_path, keep_chars=120)).execute()
    d = tmp_path / "results" / "runs" / "r"
    kept, samples = read_kept(d), rows(d / "samples.jsonl")
    assert sorted(kept) == sorted(s["question_id"] for s in samples) and len(kept) == record["scores"]["n"]
    row = kept[samples[-1]["question_id"]]
    # The Summarizer's memory is one scripted note per ingested message, in the standard memory chat.
    assert row["source"] == "prompt" and "(a)" in row["memory"] and row["memory_chars"] > 120
    assert row["memory_cut"] > 0 and len(row["memory"]) <= 120
    assert all("memory" not in s["info"] for s in samples)


def test_no_keep_memory_writes_no_file(tmp_path):
    Run(config(tmp_path, keep_memory=False)).execute()
    assert not (tmp_path / "results" / "runs" / "r" / "memory.jsonl").exists()


def test_comam_keeps_each_agent_output_outside_the_samples(tmp_path):
    answer = "<information>x</information><final_answer>(a)</final_answer>"
    cfg = config(tmp_path, system="comam_bench.comam.system:CoMAM", model=f"scripted:constant={answer}",
                 system_args={"ranking": "recency", "memory_tokens": 700}, batch_size=2, limit=6)
    Run(cfg).execute()
    d = tmp_path / "results" / "runs" / "r"
    kept = read_kept(d)
    assert len(kept) == 6
    for row in kept.values():
        assert set(row["agent_outputs"]) == {"extraction", "profile"}
        assert row["agent_outputs"]["extraction"]["text"].startswith("[session 1]")
        assert "[session 1]" in row["memory"]  # the retrieval prompt showed the entries
    assert all("agent_outputs" not in s["info"] for s in rows(d / "samples.jsonl"))


def test_resume_keeps_memory_rows_in_step_with_samples(tmp_path):
    cfg = dict(system="helpers_systems:Recorder", model=None)
    helpers_systems.FAIL_AFTER["n"] = 7
    try:
        with pytest.raises(KeyboardInterrupt):
            Run(config(tmp_path, **cfg)).execute()
    finally:
        helpers_systems.FAIL_AFTER["n"] = -1
    d = tmp_path / "results" / "runs" / "r"
    assert sorted(read_kept(d)) == sorted(s["question_id"] for s in rows(d / "samples.jsonl"))
    Run(config(tmp_path, resume=True, **cfg)).execute()
    samples = rows(d / "samples.jsonl")
    assert sorted(read_kept(d)) == sorted(s["question_id"] for s in samples)
    assert len(rows(d / "memory.jsonl")) == len(samples)  # nothing answered twice, nothing kept twice
    Run(config(tmp_path, overwrite=True, keep_memory=False, **cfg)).execute()
    assert not (d / "memory.jsonl").exists(), "--overwrite starts the kept memory afresh too"
