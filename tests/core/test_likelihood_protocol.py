"""The likelihood protocol: its pure pieces, what a likelihood run records, resume, and every system under it."""
from __future__ import annotations

import json

import pytest

import helpers_systems
from comam_bench.api import OptionScore, Question
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import (HEADLINE_NORM, NORMS, as_likelihood_chat, choose, likelihood_chat,
                                  memory_chat, memory_likelihood_chat, option_continuations, protocol_chat,
                                  question_message, resolve_protocol)
from comam_bench.registry import BUILTIN_SYSTEMS, resolve_system, spec_dir, system_class
from comam_bench.runner import Run, RunConfig, RunError


def q(options=("(a) Go hiking.", "(b) Try the jazz bar!", "(c) Stay home", "(d) Read")) -> Question:
    return Question(id="q", type="suggest_new_ideas", raw_type="x", topic="t", text="What should I do tonight?",
                    options=tuple(options), options_raw=str(list(options)), gold="b", context_id="c", end_index=0)


def s(logprob, tokens, chars):
    return OptionScore(logprob, tokens, chars, False)


# --------------------------------------------------------------------------- pure pieces
def test_continuations_drop_labels_and_follow_letter_order():
    assert option_continuations(q()) == ["Go hiking.", "Try the jazz bar!", "Stay home", "Read"]
    shuffled = q(("(b) B text", "(a) A text", "(d) D text", "(c) C text"))
    assert option_continuations(shuffled) == ["A text", "B text", "C text", "D text"]
    assert option_continuations(q(("one", "two", "three", "four"))) == ["one", "two", "three", "four"]


def test_choose_per_normalisation_and_ties_go_to_the_first_letter():
    scores = [s(-6.0, 2, 12), s(-8.0, 4, 40), s(-5.0, 1, 5), s(-9.0, 9, 30)]
    values = {"token": [-3.0, -2.0, -5.0, -1.0], "char": [-0.5, -0.2, -1.0, -0.3], "sum": [-6, -8, -5, -9]}
    expected = {norm: "abcd"[max(range(4), key=lambda i: (v[i], -i))] for norm, v in values.items()}
    assert {norm: choose(scores, norm) for norm in NORMS} == expected == {"token": "d", "char": "b", "sum": "c"}
    tied = [s(-2.0, 1, 1)] * 4
    assert choose(tied, "sum") == "a" and choose(tied[:1] + [s(-1.0, 1, 1)] * 3, "sum") == "b"
    with pytest.raises(ValueError, match="normalisation"):
        choose(tied, "bytes")
    assert HEADLINE_NORM == "token"


def test_likelihood_chats_carry_the_question_text_only():
    from comam_bench.api import Message

    prefix = [Message("user", "I love jazz."), Message("assistant", "Noted.")]
    chat = likelihood_chat(prefix, q())
    assert chat[:2] == [{"role": "user", "content": "I love jazz."}, {"role": "assistant", "content": "Noted."}]
    assert chat[-1] == {"role": "user", "content": "What should I do tonight?"}
    assert memory_likelihood_chat("", q()) == [{"role": "user", "content": q().text}]
    with_memory = memory_likelihood_chat("likes jazz", q())
    assert with_memory[0]["role"] == "system" and "likes jazz" in with_memory[0]["content"]
    # The conversion a memory system's answer chat goes through gives exactly these chats.
    assert as_likelihood_chat(memory_chat("likes jazz", q()), q()) == with_memory
    assert as_likelihood_chat(protocol_chat(prefix, q()), q()) == chat
    assert question_message(q()) not in json.dumps(chat)
    with pytest.raises(ValueError, match="likelihood_answer"):
        as_likelihood_chat([{"role": "user", "content": "something else"}], q())


def test_protocol_resolution():
    assert resolve_protocol(None) == "discriminative"
    assert resolve_protocol(None, {"protocol": "personamem-discriminative-v1"}) == "discriminative"
    assert resolve_protocol(None, {"protocol": "likelihood"}) == "likelihood"
    assert resolve_protocol("discriminative", {"protocol": "personamem-likelihood-v1"}) == "discriminative"
    with pytest.raises(ValueError, match="discriminative, likelihood"):
        resolve_protocol("generative")


# --------------------------------------------------------------------------- runs
def config(tmp_path, **kw):
    base = dict(task="personamem-mini", system="no-memory", model="scripted:closing", embedder="hash:64",
                results_dir=tmp_path / "results", batch_size=3, protocol="likelihood")
    base.update(kw)
    return RunConfig(**base)


def lines(record_dir):
    return [json.loads(x) for x in (record_dir / "samples.jsonl").read_text().splitlines()]


def by_words(chat, continuation):
    """Deterministic scores that make the three normalisations disagree: -1.3 per word plus a bonus of
    -0.1 per character, so long options lose on the sum and win per token."""
    return -1.3 * len(continuation.split()) - 0.1 * len(continuation) + 2.0 * (len(continuation) > 60)


def test_a_likelihood_run_records_scores_choices_and_protocol(tmp_path):
    llm = ScriptedLLM("never generated", scores=by_words)
    record = Run(config(tmp_path, limit=9), llm=llm).execute()
    assert llm.calls == [], "no-memory under likelihood generates nothing"
    assert len(llm.scored) == 9
    assert record["protocol"] == {"name": "likelihood", "version": "personamem-likelihood-v1", "headline_norm": "token"}
    assert record["spec"]["protocol"] == "personamem-likelihood-v1" and "--likelihood--" in record["run_id"]
    assert record["scores_by_norm"]["token"] == record["scores"]
    assert set(record["scores_by_norm"]) == set(NORMS)
    rows = lines(tmp_path / "results" / "runs" / record["run_id"])
    for row in rows:
        scores = [OptionScore(**o) for o in row["option_scores"]]
        assert len(scores) == 4 and row["raw_output"] == ""
        assert row["chosen"] == {norm: choose(scores, norm) for norm in NORMS}
        assert row["extracted"] == row["chosen"]["token"] and row["correct"] == (row["extracted"] == row["gold"])
    for norm in NORMS:
        assert record["scores_by_norm"][norm]["correct"] == sum(r["chosen"][norm] == r["gold"] for r in rows)
    chat, continuations = llm.scored[0]
    assert chat[-1]["role"] == "user" and "<final_answer>" not in json.dumps(chat)
    assert all(not c.startswith("(") for c in continuations)
    assert record["cost"]["per_agent"]["likelihood"]["calls"] == 9


def test_the_protocol_is_in_the_spec_hash_and_a_task_spec_may_set_it(tmp_path):
    disc = Run(config(tmp_path, protocol="discriminative", limit=2), llm=ScriptedLLM()).execute()
    assert disc["protocol"]["name"] == "discriminative" and "scores_by_norm" not in disc
    assert disc["spec"]["protocol"] == "personamem-discriminative-v1" and "likelihood" not in disc["run_id"]
    task = tmp_path / "mini-likelihood.yaml"
    task.write_text(f"include: {spec_dir('tasks') / 'personamem-mini.yaml'}\nprotocol: likelihood\n")
    lik = Run(config(tmp_path, task=str(task), protocol=None, limit=2), llm=ScriptedLLM(scores=by_words)).execute()
    assert lik["protocol"]["name"] == "likelihood" and lik["spec_hash"] != disc["spec_hash"]


def test_resume_refuses_a_protocol_change(tmp_path):
    helpers_systems.FAIL_AFTER["n"] = 4
    try:
        with pytest.raises(KeyboardInterrupt):
            Run(config(tmp_path, system="helpers_systems:Recorder", protocol="discriminative", run_id="cut")).execute()
    finally:
        helpers_systems.FAIL_AFTER["n"] = -1
    with pytest.raises(RunError, match="protocol 'personamem-discriminative-v1'.*--protocol discriminative"):
        Run(config(tmp_path, system="helpers_systems:Recorder", run_id="cut", resume=True)).execute()
    done = Run(config(tmp_path, system="helpers_systems:Recorder", protocol="discriminative", run_id="cut",
                      resume=True)).execute()
    assert done["scores"]["n"] > 4


def test_a_model_free_system_chooses_by_itself_under_likelihood(tmp_path):
    record = Run(config(tmp_path, system="longest-option", model=None, limit=5)).execute()
    rows = lines(tmp_path / "results" / "runs" / record["run_id"])
    assert record["protocol"]["name"] == "likelihood"
    for row in rows:
        assert row["option_scores"] is None and set(row["chosen"].values()) == {row["extracted"]}


def test_a_system_without_the_hook_is_refused_before_the_run_starts(tmp_path):
    with pytest.raises(RunError, match="likelihood_answer"):
        Run(config(tmp_path, system="test_likelihood_protocol:NoHook")).prepare()
    assert not (tmp_path / "results" / "runs").exists()


class NoHook(helpers_systems.Recorder):
    needs_llm = True


# --------------------------------------------------------------------------- every built-in system
RESPONSE = ('<information>The user loves jazz.</information> <selected>1</selected> '
            '{"facts": ["likes jazz"]} <final_answer>(b)')


@pytest.mark.parametrize("name", sorted(n for n in BUILTIN_SYSTEMS if system_class(resolve_system(n)).needs_llm))
def test_every_builtin_system_runs_under_likelihood(tmp_path, name):
    llm = ScriptedLLM(RESPONSE, context_window=4096, scores=by_words)
    record = Run(config(tmp_path, system=name, limit=3), llm=llm).execute()
    rows = lines(tmp_path / "results" / "runs" / record["run_id"])
    assert len(rows) == 3 and all(len(r["option_scores"]) == 4 for r in rows)
    assert len(llm.scored) == 3
    for chat, _ in llm.scored:
        assert "<final_answer>" not in chat[-1]["content"] and "(a)" not in chat[-1]["content"]


def test_comam_generates_evidence_first_and_the_options_are_scored_after_it(tmp_path):
    llm = ScriptedLLM(RESPONSE, scores=by_words)
    record = Run(config(tmp_path, system="comam", limit=2), llm=llm).execute()
    rows = lines(tmp_path / "results" / "runs" / record["run_id"])
    assert all(r["raw_output"] == RESPONSE for r in rows)  # the retrieval agent's text, kept
    assert record["cost"]["per_agent"]["retrieval"]["calls"] == 2
    for chat, _ in llm.scored:
        assert chat[0]["role"] == "system" and chat[0]["content"].endswith("The user loves jazz.")
        assert len(chat) == 2


def test_memory_r1_scores_after_the_memories_it_selected(tmp_path):
    llm = ScriptedLLM(RESPONSE, scores=by_words)
    record = Run(config(tmp_path, system="memory-r1", limit=3), llm=llm).execute()
    assert record["cost"]["per_agent"]["answer"]["calls"] == 3  # the joint select-and-answer output first
    for chat, _ in llm.scored:
        memory = chat[0]["content"] if chat[0]["role"] == "system" else ""
        assert memory.count("(session") <= 1  # <selected>1</selected>: one memory at most


@pytest.mark.parametrize("name", ["full-context", "comam"])
def test_end_to_end_with_a_real_tiny_model(tmp_path, name):
    """A random Llama through load_llm and the hf backend: a scoring run and a generate-then-score run."""
    pytest.importorskip("torch")
    from comam_bench.data.synthetic import generate
    from comam_bench.training.tiny import save_tiny_model

    data = tmp_path / "data"
    generate(data, "mini", seed=0)
    model = save_tiny_model(tmp_path / "tiny", [p.read_text() for p in sorted(data.iterdir())], hidden=32,
                            layers=1, window=2048)
    record = Run(config(tmp_path, system=name, model=model, limit=4, batch_size=2)).execute()
    rows = lines(tmp_path / "results" / "runs" / record["run_id"])
    assert record["scores"]["n"] == 4 and record["model"]["backend"] == "hf"
    for row in rows:
        assert all(o["logprob"] < 0 and o["tokens"] > 0 for o in row["option_scores"])
        assert (row["raw_output"] != "") == (name == "comam")
