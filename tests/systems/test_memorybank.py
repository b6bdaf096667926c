"""MemoryBank: forgetting math by hand, recall updates, seeded forgetting, summaries and fallbacks."""
import math

import pytest

from comam_bench.api import Message, Question, Resources
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import question_message
from comam_bench.registry import resolve_system
from comam_bench.systems.memorybank import MemoryBank, context_rng, keep_probability, retention
from comam_bench.systems.memorybank.turns import SessionStart, Turn, TurnPairer


def session(persona, turns):
    msgs = [Message("system", f"Current user persona: {persona}")]
    for q, r in turns:
        msgs += [Message("user", f"User: {q}"), Message("assistant", f"Assistant: {r}")]
    return msgs


def question(text, qid="q1"):
    opts = ("(a) yes", "(b) no", "(c) maybe", "(d) never")
    return Question(qid, "recall_user_shared_facts", "x", "t", text, opts, str(list(opts)), "a", "c1", 0)


def scripted(chat):
    body = chat[-1]["content"]
    if body.endswith("Overall summary:"):
        return "GLOBAL SUMMARY"
    if body.endswith("Overall personality and response strategy:"):
        return "OVERALL PERSONALITY"
    if body.endswith("Summary:"):
        return "day notes"
    if body.endswith("Personality, mood and response strategy:"):
        return "curious and calm"
    return "<final_answer>(a)"


def make(llm=None, seed=0, **args):
    resources = Resources(llm or ScriptedLLM(scripted), HashEmbedder, seed=seed)
    system = MemoryBank(resources, **args)
    system.reset("c1")
    return system


class FixedRng:
    def __init__(self, value):
        self.value = value

    def random(self):
        return self.value


# --------------------------------------------------------------------------- pure math
def test_retention_hand_values():
    assert retention(5, 1) == pytest.approx(math.exp(-1))
    assert retention(5, 2) == pytest.approx(math.exp(-0.5))
    assert retention(10, 2) == pytest.approx(math.exp(-1))
    assert retention(0, 3) == 1.0
    # the original's exp(-t / 5*S) = exp(-t*S/5): equal at S=1, inverted beyond
    assert retention(5, 1, formula="original") == pytest.approx(math.exp(-1))
    assert retention(5, 2, formula="original") == pytest.approx(math.exp(-2))
    assert retention(1, 2, scale=10) == pytest.approx(math.exp(-0.05))
    with pytest.raises(ValueError):
        retention(1, 1, formula="other")


def test_keep_probability_repeated_and_conditional():
    assert keep_probability(0, 1) == 1.0
    assert keep_probability(3, 1) == pytest.approx(math.exp(-0.6))
    # conditional: R(t)/R(t-1) = exp(-1/(5S)) whatever t
    assert keep_probability(3, 1, draw="conditional") == pytest.approx(math.exp(-0.2))
    assert keep_probability(1, 2, draw="conditional") == pytest.approx(math.exp(-0.1))
    assert keep_probability(4, 2, formula="original", draw="conditional") == pytest.approx(math.exp(-0.4))


def test_context_rng_is_stable_and_context_specific():
    a = [context_rng(7, "ctx").random() for _ in range(3)]
    assert a == [context_rng(7, "ctx").random() for _ in range(3)]
    assert context_rng(7, "ctx").random() != context_rng(7, "other").random()
    assert context_rng(7, "ctx").random() != context_rng(8, "ctx").random()


# --------------------------------------------------------------------------- turns and days
def test_turn_pairer_days_and_pairing():
    p = TurnPairer()
    msgs = [Message("system", "Current user persona: Ann"), Message("user", "User: hi"),
            Message("assistant", "Assistant: hello"), Message("user", "User: unanswered"),
            Message("system", "Current user persona: Ann again"), Message("assistant", "Assistant: lone")]
    events = p.push_all(msgs, 10)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["SessionStart", "Turn", "Turn", "Turn", "SessionStart", "Turn", "Turn"]
    assert events[0] == SessionStart(0, 10)
    assert (events[2].query, events[2].response, events[2].day, events[2].index) == ("hi", "hello", 0, 11)
    assert (events[3].query, events[3].response, events[3].day) == ("unanswered", "", 0)
    assert events[4] == SessionStart(1, 14)
    assert events[5].kind == "system" and events[5].day == 1
    assert (events[6].query, events[6].response, events[6].day) == ("", "lone", 1)
    p.push(Message("user", "User: open one"), 16)
    assert p.open_turn().query == "open one"
    assert Turn("q", "r", 0, 0).render("; ") == "User: q; Assistant: r"


# --------------------------------------------------------------------------- recall and forgetting
def test_recall_strengthens_and_resets_recall_day():
    mb = make(top_k=1, forgetting=False)
    mb.ingest(session("Ann", [("I play tennis on weekends", "Nice"), ("I bake bread", "Yum")]) +
              session("Ann", [("I grow tomatoes", "Great")]), 0)
    assert mb.day == 1
    answers = mb.answer([question("weekends tennis play")])
    tennis = next(m for m in mb.memories if "tennis" in m.text)
    assert (tennis.strength, tennis.last_recall) == (2.0, 1)
    others = [m for m in mb.memories if m is not tennis]
    assert all(m.strength == 1.0 and m.last_recall == m.day for m in others)
    assert "[day 0] User: I play tennis on weekends; Assistant: Nice" in answers[0].prompt[0]["content"]


def test_seeded_forgetting_matches_manual_draws():
    mb = make(seed=3)
    mb.ingest(session("Ann", [(f"fact number {i}", "ok") for i in range(12)]), 0)
    mems = list(mb.memories)
    rng = context_rng(3, "c1")  # the system's stream is untouched so far
    expected = [m.id for m in mems if rng.random() < math.exp(-(4 - m.last_recall) / 5)]
    dropped = mb.forget(4)
    assert [m.id for m in mb.memories] == expected
    assert dropped == len(mems) - len(expected) > 0
    assert mb.resources.diagnostics["memorybank_forgotten"] == dropped


def test_forgetting_is_deterministic_across_runs():
    def survivors(seed):
        mb = make(seed=seed)
        for k in range(4):
            mb.ingest(session("Ann", [(f"day {k} fact {i}", "ok") for i in range(6)]), 100 * k)
        return [m.id for m in mb.memories]

    assert survivors(1) == survivors(1)
    assert len({tuple(survivors(s)) for s in range(4)}) > 1  # the seed matters


def test_original_formula_forgets_strong_memories_faster():
    for formula, kept in (("intended", True), ("original", False)):
        mb = make(forgetting_formula=formula)
        mb.ingest(session("Ann", [("strong memory", "ok")]), 0)
        strong = mb.memories[-1]
        strong.strength = 10.0  # t = 1: intended exp(-1/50) = 0.98, original exp(-10/5) = 0.14
        mb.rng = FixedRng(0.5)
        mb.forget(1)
        assert (strong in mb.memories) is kept
        assert any("persona" in m.text for m in mb.memories)  # S = 1: exp(-0.2) = 0.82 > 0.5 either way


def test_forgetting_off_keeps_everything():
    mb = make(forgetting=False)
    for k in range(5):
        mb.ingest(session("Ann", [(f"fact {k}", "ok")]), 10 * k)
    assert len(mb.memories) == 10


def test_day_summary_goes_when_all_its_turns_are_forgotten():
    mb = make()
    mb.rng = FixedRng(0.999)  # everything with t >= 1 is forgotten
    mb.ingest(session("Ann", [("a", "b")]) + session("Ann", [("c", "d")]), 0)
    assert {m.day for m in mb.memories} == {1}
    assert 0 not in mb.day_summaries
    assert mb.day_personalities == {0: "curious and calm"}  # personalities are not documents (as the original)


# --------------------------------------------------------------------------- summaries and answers
def test_day_summaries_are_batched_then_overall():
    llm = ScriptedLLM(scripted)
    mb = make(llm, forgetting=False)
    mb.ingest(session("Ann", [("a", "b")]) + session("Ann", [("c", "d")]) + session("Ann", [("e", "f")]), 0)
    assert llm.batches == [("day_summary", 4), ("global_summary", 2)]
    assert mb.day_summaries == {0: "day notes", 1: "day notes"}
    assert (mb.global_summary, mb.overall_personality) == ("GLOBAL SUMMARY", "OVERALL PERSONALITY")
    mb.ingest([Message("user", "User: more")], 9)  # same day: nothing to summarise
    assert len(llm.batches) == 2
    assert all(call[1]["max_new_tokens"] == 128 and call[1]["temperature"] == 0.0 for call in llm.calls)


def test_empty_outputs_are_counted_and_keep_previous():
    outputs = {"value": "x"}
    llm = ScriptedLLM(lambda chat: outputs["value"])
    mb = make(llm, forgetting=False)
    mb.ingest(session("Ann", [("a", "b")]) + session("Ann", [("c", "d")]), 0)
    assert mb.global_summary == "x"
    outputs["value"] = "   "
    mb.ingest(session("Ann", [("e", "f")]), 20)
    diag = mb.resources.diagnostics
    assert diag["memorybank_empty_day_summary"] == 1 and diag["memorybank_empty_day_personality"] == 1
    assert diag["memorybank_empty_global_summary"] == 1
    assert mb.global_summary == "x" and 1 not in mb.day_summaries
    assert len(mb.answer([question("anything")])) == 1


def test_answer_uses_standard_prompt_with_summary_and_personality():
    llm = ScriptedLLM(scripted)
    mb = make(llm, forgetting=False)
    mb.ingest(session("Ann", [("I love jazz", "Cool")]) + session("Ann", [("I hate rain", "Oh")]), 0)
    mb.ingest([Message("user", "User: what next?")], 7)
    q = question("jazz music")
    (ans,) = mb.answer([q])
    assert ans.text == "<final_answer>(a)"
    memory, user = ans.prompt
    assert user == {"role": "user", "content": question_message(q)}
    assert "Summary of past conversations with the user: GLOBAL SUMMARY" in memory["content"]
    assert "OVERALL PERSONALITY" in memory["content"]
    assert "Latest user message (day 1): what next?" in memory["content"]
    assert llm.batches[-1] == ("answer", 1)
    stats = mb.memory_stats()
    assert stats["items"] == 4 + 1 + 1 + 1 + 1  # 4 turns, 1 day summary, 1 day personality, global pair


def test_yaml_variants_resolve():
    assert resolve_system("memorybank-no-forgetting").args == {"forgetting": False}
    assert resolve_system("memorybank-original-formula").args == {"forgetting_formula": "original"}
    assert MemoryBank(Resources(ScriptedLLM(), HashEmbedder), **resolve_system("memorybank-conditional").args)
