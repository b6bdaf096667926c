"""The local rewards (Eqs. 9, 11) under the graded and the thresholded overlap rules, the judge's expected
and parsed scores, and the global reward being the evaluator's scorer."""
from __future__ import annotations

import math

import pytest

from comam_bench.comam.training.judge import (expected_profile_scores, expected_score, judge_chat, judge_profiles,
                                              parse_score, score_continuations)
from comam_bench.comam.training.rewards import (answer_reward, extraction_reward, f1, max_f1_assignment,
                                                max_matching, overlap, retrieval_reward, units, words)
from comam_bench.llm.scripted import ScriptedLLM

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
    assert overlap(compressed, [E1], rule="threshold").matched == 1
    session = [E1, E2, OTHER, "Assistant: Sorry to hear it did not live up to your hopes. Thanks for telling me.",
               "User: How do people usually find new volunteering ideas around the neighbourhood?",
               "Assistant: Friends, local newsletters and community boards are all good sources. Online groups help too."]
    pasted = " ".join(session).replace("User: ", "").replace("Assistant: ", "")
    # one unit holding all 12 content words of E1 (recall 1) among 57: F1 = 2·12 / (12 + 57) = 0.348 < 0.5
    assert overlap(pasted, [E1], rule="threshold").matched == 0
    # graded: the pasted unit earns its F1, a third of a match, where the compressed one earns nearly one
    assert overlap(pasted, [E1]).matched == pytest.approx(24 / 69)
    assert overlap(compressed, [E1]).matched == pytest.approx(22 / 23)  # 11 of 12 words, none extra: 22/23


def test_graded_overlap_is_the_best_one_to_one_sum_of_f1_by_hand():
    ev = ["User: alpha beta gamma delta", "User: red green blue yellow"]
    out = "alpha beta red\nalpha beta gamma"
    # F1: u0 = {alpha, beta, red}: e0 2·2/7 = 4/7, e1 2·1/7 = 2/7; u1 = {alpha, beta, gamma}: e0 6/7, e1 0.
    # Best assignment u1->e0, u0->e1: 6/7 + 2/7 = 8/7 (greedy u0->e0 would give 4/7 + 0).
    assert max_f1_assignment([[4 / 7, 2 / 7], [6 / 7, 0.0]]) == pytest.approx(8 / 7)
    o = overlap(out, ev)
    assert (o.units, o.evidence, o.matched) == (2, 2, pytest.approx(8 / 7))
    # Eq. 9: 0.8 · (8/7)/2 + 0.2 · (8/7)/(2 + 2 - 8/7) = 0.457143 + 0.08 = 0.537143
    assert extraction_reward(out, ev) == pytest.approx(0.8 * 4 / 7 + 0.2 * 0.4)
    # thresholded at 0.5: both units can only take e0 (4/7, 6/7 >= 0.5), so one match
    assert overlap(out, ev, rule="threshold").matched == 1
    assert extraction_reward(out, ev, rule="threshold") == pytest.approx(0.8 * 0.5 + 0.2 / 3)
    with pytest.raises(ValueError, match="overlap rule"):
        overlap(out, ev, rule="fuzzy")


@pytest.mark.parametrize("output", [E1, E1 + "\n" + E2, E1 + "\n" + OTHER, "\n".join([E2, E1, E1]), OTHER, ""])
def test_graded_equals_thresholded_at_exact_matches(output):
    # every unit either copies an evidence utterance (F1 1) or shares no word with any (F1 0)
    for evidence in ([E1], [E1, E2]):
        graded, counted = overlap(output, evidence), overlap(output, evidence, rule="threshold")
        assert graded.matched == pytest.approx(counted.matched)
        assert extraction_reward(output, evidence) == pytest.approx(extraction_reward(output, evidence, rule="threshold"))


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


def test_judge_expected_score_from_a_hand_made_distribution():
    # p(Score: 7/10) = 0.5, p(8/10) = 0.3, p(2/10) = 0.2, the rest ~0: 0.5·0.7 + 0.3·0.8 + 0.2·0.2 = 0.63
    probs = {7: 0.5, 8: 0.3, 2: 0.2}
    logprobs = [math.log(probs[k]) if k in probs else -1e9 for k in range(11)]
    assert expected_score(logprobs) == pytest.approx(0.63)
    assert expected_score([math.log(3.0) + lp for lp in logprobs]) == pytest.approx(0.63)  # a shift cancels
    assert expected_score([0.0] * 11) == pytest.approx(0.5)  # uniform over 0..10
    assert score_continuations()[0] == "Score: 0/10" and score_continuations()[-1] == "Score: 10/10"


def test_expected_profile_scores_score_the_eleven_levels_and_skip_empty_profiles():
    def score(chat, continuation):  # a judge that puts all its mass on 9 for tea lovers, on 1 otherwise
        level = int(continuation.split()[1].split("/")[0])
        wanted = 9 if "likes tea" in chat[0]["content"] else 1
        return 0.0 if level == wanted else -50.0
    llm = ScriptedLLM(scores=score)
    out = expected_profile_scores(llm, ["H1", "H2", "H3"], ["likes tea", "likes coffee", " "])
    assert out == pytest.approx([0.9, 0.1, 0.0], abs=1e-9)
    assert len(llm.scored) == 2 and llm.scored[0][1] == score_continuations() and not llm.calls
