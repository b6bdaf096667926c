"""comam/training/rollout.py's Scorer.score and summarize on hand-built trajectories, against values worked by hand.

Evidence E = {"I love hiking in the mountains"} (content words: love, hiking, mountains). Two groups of G = 2:
group 1, trajectory 1 extracts the evidence, retrieves it plus one unrelated line and answers right;
trajectory 2 extracts and retrieves nothing useful and answers wrong, but its profile pleases the judge more.
Group 2's two trajectories are identical failures (every reward 0).
"""
from __future__ import annotations

import math

import pytest

from comam_bench.api import Question
from comam_bench.comam.agents import AGENTS
from comam_bench.comam.states import AnswerState, StepResult, Trajectory
from comam_bench.comam.training.rollout import Group, Scorer, summarize
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.training.data import Example
QUESTION = Question("q1", "recall_user_shared_facts", "recall", "t", "What do I love?",
                    ("(a) hiking", "(b) films", "(c) chess", "(d) golf"), "", "a", "c1", 3)
EXAMPLE = Example(QUESTION, "H", (), 0, ("I love hiking in the mountains",), (1,), True)


def trajectory(extracted: str, profile: str, information: str | None, answer: str) -> Trajectory:
    final = AnswerState(answer, information, None)
    return Trajectory([StepResult("extraction", None, [], extracted, extracted, None),
                       StepResult("profile", None, [], profile, profile, None),
                       StepResult("retrieval", None, [], answer, information or "", final)])


def groups() -> list[Group]:
    good = trajectory("love hiking mountains", "Likes hiking.", "love hiking mountains\nbuys new shoes",
                      "<final_answer>(a)")
    bad = trajectory("watched a film", "Watches films.", None, "<final_answer>(b)")
    failure = trajectory("watched a film", "", None, "<final_answer>(b)")
    return [Group(EXAMPLE, [good, bad]), Group(EXAMPLE, [failure, failure])]


def close(expected: dict, **tolerance) -> dict:
    """`expected` with each list compared approximately (pytest.approx does not nest)."""
    return {k: pytest.approx(v, **tolerance) for k, v in expected.items()}


def judge() -> ScriptedLLM:
    return ScriptedLLM(lambda chat: "Score: 3/10" if "Likes hiking." in chat[0]["content"] else "Score: 9/10")


V = 1 / math.log2(3)  # profile NDCG in group 1: the wrong answer ranked first, gains (0, 1): 1/log2(3) / 1
W_TOP = 1 / (2 + math.exp(V - 1))  # softmax over (1, V, 1): extraction and retrieval
W_PROFILE = math.exp(V - 1) / (2 + math.exp(V - 1))
A = 1 / math.sqrt(2)  # a group of two different rewards normalises to ±(d/2) / (d/√2) = ±1/√2


def test_score_fills_local_and_global_rewards_credit_and_advantages_by_hand():
    llm = judge()
    scorer = Scorer(llm, judge_score="generated")
    gs = groups()
    scorer.score(gs, AGENTS)
    g = gs[0]
    assert g.answer == [1.0, 0.0]
    # extraction: one unit matching the one evidence utterance: α·1/1 + (1-α)·1/1 = 1; nothing matched: 0
    # retrieval: two units, one matched: β·1/1 + (1-β)·1/(2+1-1) = 0.2 + 0.8·0.5 = 0.6; no information: 0
    assert g.local == close({"extraction": [1.0, 0.0], "profile": [0.3, 0.9], "retrieval": [0.6, 0.0]})
    assert g.credit.ndcg == pytest.approx({"extraction": 1.0, "profile": V, "retrieval": 1.0})
    assert g.credit.weights == pytest.approx({"extraction": W_TOP, "profile": W_PROFILE, "retrieval": W_TOP})
    assert W_TOP == pytest.approx(0.371557, abs=1e-6) and W_PROFILE == pytest.approx(0.256886, abs=1e-6)
    # Eq. 15: r_n + w_n·r_ans
    assert g.credit.final["extraction"] == pytest.approx([1 + W_TOP, 0.0])
    assert g.credit.final["profile"] == pytest.approx([0.3 + W_PROFILE, 0.9])
    assert g.credit.final["retrieval"] == pytest.approx([0.6 + W_TOP, 0.0])
    assert g.advantages == close({"extraction": [A, -A], "profile": [-A, A], "retrieval": [A, -A]}, rel=1e-5)
    # group 2: every global reward 0, so NDCG is undefined and the weights are equal; equal rewards, zero advantages
    g2 = gs[1]
    assert g2.credit.ndcg == {a: None for a in AGENTS} and g2.credit.weights == pytest.approx({a: 1 / 3 for a in AGENTS})
    assert g2.advantages == {a: [0.0, 0.0] for a in AGENTS}
    # one judge call for the whole batch; empty profiles are scored 0 without asking
    assert llm.batches == [("judge", 2)] and scorer.counts == {"judge_unparsed": 0, "judge_calls": 2}


def test_summarize_averages_over_the_batch_by_hand():
    scorer = Scorer(judge(), judge_score="generated")
    gs = groups()
    scorer.score(gs, AGENTS)
    out = summarize(gs)
    expected = {
        "reward/answer": 0.25,  # (1 + 0 + 0 + 0) / 4
        "reward/extraction": 0.25, "reward/profile": 0.3, "reward/retrieval": 0.15,  # (0.3 + 0.9) / 4, 0.6 / 4
        "weight/extraction": (W_TOP + 1 / 3) / 2, "weight/profile": (W_PROFILE + 1 / 3) / 2,
        "weight/retrieval": (W_TOP + 1 / 3) / 2,
        "ndcg/extraction": 1.0, "ndcg/profile": V, "ndcg/retrieval": 1.0,  # group 2's undefined NDCG left out
        "groups/ndcg_undefined_frac": 0.5,
    }
    for agent in AGENTS:
        expected[f"adv/{agent}/mean_abs"] = A / 2  # (A + A + 0 + 0) / 4
        expected[f"adv/{agent}/zero_frac"] = 0.5
    assert out == pytest.approx(expected, rel=1e-5)
    assert summarize([]) == {}


def test_a_replacement_reward_gets_keywords_and_replaces_the_judge():
    seen = []

    def reward(*, agent, step, text, output, example, trajectory, **kwargs):
        seen.append((agent, text, example is EXAMPLE, trajectory.step(agent) is step))
        return float(len(output))

    scorer = Scorer(None, functions={"profile": reward})  # no judge needed when the profile reward is replaced
    gs = groups()[:1]
    scorer.score(gs, AGENTS)
    assert gs[0].local["profile"] == [13.0, 14.0]  # len("Likes hiking."), len("Watches films.")
    assert seen == [("profile", "Likes hiking.", True, True), ("profile", "Watches films.", True, True)]
    with pytest.raises(ValueError, match="needs a judge"):
        Scorer(None).score(groups(), AGENTS)


def test_the_likelihood_answer_rule_scores_the_options_after_the_retrieved_evidence():
    # the frozen scorer likes "hiking" only when the memory mentions hiking; otherwise "films"
    def score(chat, continuation):
        memory = chat[0]["content"] if chat[0]["role"] == "system" else ""
        liked = "hiking" if "hiking" in memory else "films"
        return 0.0 if continuation == liked else -5.0
    llm = ScriptedLLM(scores=score)
    scorer = Scorer(llm, judge_score="expected", answer="likelihood", functions={"profile": lambda **kw: 0.0})
    gs = groups()
    scorer.score(gs, AGENTS)
    # group 1: trajectory 1 retrieved the hiking line (gold (a)); trajectory 2 wrote no <information>, so its
    # reply before <final_answer> ("") is the memory and "films" wins: wrong, whatever letter it wrote
    assert gs[0].answer == [1.0, 0.0] and gs[1].answer == [0.0, 0.0]
    # two distinct memories in group 1, one in group 2 (identical trajectories share a scoring)
    assert len(llm.scored) == 3 and llm.scored[0][1] == ["hiking", "films", "chess", "golf"]
    assert llm.scored[0][0][-1] == {"role": "user", "content": "What do I love?"}
