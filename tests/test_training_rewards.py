"""The local rewards (Eqs. 9, 11) under the normalised-match rule, the judge's score parsing, and the global
reward being the evaluator's scorer."""
from __future__ import annotations

import pytest

from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.training.judge import judge_chat, judge_profiles, parse_score
from comam_bench.training.rewards import (answer_reward, extraction_reward, f1, max_matching, overlap,
                                          retrieval_reward, units, words)

E1 = "User: Back on 10/21/2023, my old teammates and I spent the afternoon organizing beach cleanups. It was a letdown."
E2 = "User: Something from 10/22/2023: I spent a few hours mentoring new immigrants with two of my coworkers."
OTHER = "Assistant: Try keeping a running note on your phone and add ideas the moment you think of them."


def test_normalisation_drops_speaker_case_punctuation_and_stopwords():
    assert words("User: I spent THE day writing letters!") == {"spent", "day", "writing", "letters"}
    assert words("Therapist: ...") == frozenset()


def test_units_are_lines_split_again_before_inline_speakers():
    assert units("User: hello there\n\n  \nAssistant: hi you") == ["User: hello there", "Assistant: hi you"]
    assert units("User: hello there Assistant: hi you") == ["User: hello there", "Assistant: hi you"]
    assert units("") == [] and units(None) == []


def test_f1_and_matching():
    # {a,b,c} vs {b,c,d}: 2 common -> 2·2 / (3 + 3) = 0.666667
    assert f1(frozenset("abc"), frozenset("bcd")) == pytest.approx(2 / 3)
    # unit 0 can take evidence 0 or 1, unit 1 only evidence 0: a greedy 0->0 would leave unit 1 unmatched
    assert max_matching([[0, 1], [0]], 2) == 2
    assert max_matching([[0], [0]], 1) == 1  # one-to-one


def test_a_compressed_utterance_matches_but_a_pasted_session_does_not():
    compressed = "10/21/2023 spent afternoon organizing beach cleanups with old teammates, letdown"
    assert overlap(compressed, [E1]).matched == 1
    session = [E1, E2, OTHER, "Assistant: Sorry to hear it did not live up to your hopes. Thanks for telling me.",
               "User: How do people usually find new volunteering ideas around the neighbourhood?",
               "Assistant: Friends, local newsletters and community boards are all good sources. Online groups help too."]
    pasted = " ".join(session).replace("User: ", "").replace("Assistant: ", "")
    # one unit holding all 12 content words of E1 (recall 1) among 57: F1 = 2·12 / (12 + 57) = 0.348 < 0.5
    assert overlap(pasted, [E1]).matched == 0


def test_extraction_reward_eq9_by_hand():
    # |M_f| = 4 units, |E_q| = 2, one matched:
    # 0.8 · 1/2 + 0.2 · 1/(4 + 2 - 1) = 0.4 + 0.04 = 0.44
    m_f = "\n".join([E1, OTHER, "User: I like tea", "Assistant: Noted."])
    assert extraction_reward(m_f, [E1, E2]) == pytest.approx(0.44)
    # both matched, nothing else: 0.8 + 0.2 · 2/2 = 1
    assert extraction_reward(E1 + "\n" + E2, [E1, E2]) == pytest.approx(1.0)
    assert extraction_reward("", [E1]) == 0.0 and extraction_reward(E1, []) == 0.0


def test_retrieval_reward_eq11_by_hand():
    # |E'_q| = 1 unit matching one of 2 evidence: 0.2 · 1/2 + 0.8 · 1/(1 + 2 - 1) = 0.1 + 0.4 = 0.5
    assert retrieval_reward(E2, [E1, E2]) == pytest.approx(0.5)
    # precision-leaning: 3 units with 1 match, 1 evidence: 0.2 · 1 + 0.8 · 1/3 = 0.466667
    assert retrieval_reward("\n".join([E1, OTHER, "User: I like tea"]), [E1]) == pytest.approx(0.2 + 0.8 / 3)


def test_duplicated_output_lines_count_once_in_the_intersection():
    # two identical units, one evidence: matched 1, |M| 2 -> 0.8 · 1 + 0.2 · 1/2 = 0.9 (never above 1)
    assert extraction_reward(E1 + "\n" + E1, [E1]) == pytest.approx(0.9)


def test_global_reward_is_the_harness_scorer():
    assert answer_reward("<information>x</information><final_answer>(b)</final_answer>", "b") == 1.0
    assert answer_reward("<final_answer>(a) or (b)", "b") == 0.0
    assert answer_reward("I think (c)", "(c)") == 1.0
    assert answer_reward("no idea", "a") == 0.0


@pytest.mark.parametrize("reply, score", [
    ("Score: 7/10", 0.7), ("I'd say 8 out of 10.", 0.8), ("Score: 0.7", 0.7), ("Score: 7", 0.7),
    ("**Score:** 9", 0.9), ("85%", 0.85), ("6", 0.6), ("Score: 1", 0.1), ("1.0", 1.0), ("12/10", 1.0),
    ("Covers 3/4 of the topics. Score: 9/10", 0.9), ("Score: 250", None), ("garbage", None), ("", None),
    ("Score: -3", None),
])
def test_parse_score(reply, score):
    assert parse_score(reply) == (pytest.approx(score) if score is not None else None)


def test_judge_profiles_scores_parses_and_counts_failures():
    def respond(chat):
        return "Score: 8/10" if "likes tea" in chat[0]["content"] else "I cannot say"
    llm = ScriptedLLM(respond)
    scores, replies, unparsed = judge_profiles(llm, ["H1", "H2", "H3"], ["likes tea", "likes coffee", "  "])
    assert scores == pytest.approx([0.8, 0.0, 0.0]) and unparsed == 1
    assert len(llm.calls) == 2 and replies[2] == ""  # the empty profile was never sent
    assert llm.calls[0][1]["temperature"] == 0.0
    text = judge_chat("User: hi", "likes tea")[0]["content"]
    assert "Scenario" in text and "Preference" in text and "User profile:" in text and "Score: N/10" in text
