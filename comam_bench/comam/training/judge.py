"""The profile reward V(M_c, H) (comam.md Eq. 10): a frozen judge LLM scores the profile against the history.

The paper names the judge (Qwen2.5-3B-Instruct) and its rubrics (scenario, preference, user profile) but
not its prompt; ours is below (JUDGE_VERSION names it). Two ways to read a score (recipe key
rewards.judge_score):
- expected (default): the judge's reply is not generated but scored. Each "Score: k/10", k = 0..10, is a
  continuation of the judge's turn (LLM.loglikelihood, one shared prefix); softmax over the eleven
  log-probabilities is the judge's distribution over its score, and the reward is its mean, in [0, 1].
  It always exists and moves smoothly with the profile, where a small judge's generated text is often
  unreadable (the 135M judge's was on every sample of the first CPU benchmark), and costs one forward pass
  of the prompt instead of a generation.
- generated: greedy text, read by `parse_score` ("Score: 7/10", "7/10", "7 out of 10", "70%", "Score: 0.7"
  or a bare number); None for anything else: the caller scores that 0 and counts it (judge_unparsed).
"""
from __future__ import annotations

import math
import re
from typing import Sequence

from comam_bench.api import LLM, Chat

JUDGE_SCORES = ("expected", "generated")  # rewards.judge_score: expected_score | parsed generated text

JUDGE_VERSION = "comam-judge-v1"
SCORE_LEVELS = tuple(range(11))  # "Score: k/10"

JUDGE_TEMPLATE = (
    "You are grading a user profile that an assistant wrote from a conversation.\n\n"
    "Conversation:\n{history}\n\n"
    "User profile:\n{profile}\n\n"
    "Rate the profile from 0 to 10 on three rubrics taken together:\n"
    "- Scenario: does it capture the situations and activities the user talked about?\n"
    "- Preference: does it state the user's likes, dislikes and changes of mind correctly?\n"
    "- User profile: does it describe the user's behaviour patterns, with nothing made up?\n"
    "Answer with one line: Score: N/10"
)

_FRACTION = re.compile(r"(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_PERCENT = re.compile(r"(-?\d+(?:\.\d+)?)\s*%")
_AFTER_SCORE = re.compile(r"score\s*(?:is|of|=|:)?\s*\**\s*(-?\d+(?:\.\d+)?)", re.IGNORECASE)
_BARE = re.compile(r"^\s*\**\s*(-?\d+(?:\.\d+)?)\s*\**\s*\.?\s*$")


def judge_chat(history: str, profile: str) -> Chat:
    """The judge's one user message for (H, M_c)."""
    return [{"role": "user", "content": JUDGE_TEMPLATE.format(history=history.strip(), profile=profile.strip())}]


def _scaled(token: str) -> float | None:
    """A bare number on the scale it most likely uses: a decimal up to 1 as is (0.7), a number up to 10 in
    tenths (the prompt asks for N/10, so "Score: 1" is 0.1), up to 100 in percent; else unreadable."""
    value = float(token)
    if value < 0:
        return None
    if "." in token and value <= 1:
        return value
    if value <= 10:
        return value / 10
    return value / 100 if value <= 100 else None


def _fraction(text: str) -> float | None:
    """The first "X/Y" (or "X out of Y") after the last "score", else the last one anywhere."""
    lower = text.lower()
    tail = text[lower.rfind("score"):] if "score" in lower else ""
    found = _FRACTION.findall(tail)[:1] or _FRACTION.findall(text)[-1:]
    if not found:
        return None
    num, den = map(float, found[0])
    return min(max(num / den, 0.0), 1.0) if den > 0 else None


def parse_score(text: str) -> float | None:
    """The judge's score in [0, 1], or None when no score can be read.

    Order: a fraction ("7/10", "7 out of 10"), a percentage, a number after "score", a reply that is
    only a number. Results are clipped to [0, 1]."""
    text = text or ""
    value = _fraction(text)
    if value is not None:
        return value
    percent = _PERCENT.findall(text)
    if percent:
        return min(max(float(percent[-1]) / 100, 0.0), 1.0)
    for pattern in (_AFTER_SCORE, _BARE):
        found = pattern.findall(text)
        if found:
            return _scaled(found[-1])
    return None


def judge_profiles(llm: LLM, histories: Sequence[str], profiles: Sequence[str], max_new_tokens: int = 32,
                   ) -> tuple[list[float], list[str], int]:
    """Score every (H, M_c) pair in one greedy batched call. An empty profile scores 0 without a call.

    Returns (scores in [0, 1], the judge's raw replies ("" where not asked), how many were unparsable)."""
    asked = [i for i, p in enumerate(profiles) if p.strip()]
    chats = [judge_chat(histories[i], profiles[i]) for i in asked]
    replies = [""] * len(profiles)
    if chats:
        for i, gen in zip(asked, llm.generate(chats, max_new_tokens=max_new_tokens, temperature=0.0, agent="judge")):
            replies[i] = gen.text
    scores, unparsed = [], 0
    for i, reply in enumerate(replies):
        value = parse_score(reply) if i in asked else 0.0
        if value is None:
            unparsed += 1
        scores.append(value or 0.0)
    return scores, replies, unparsed


def score_continuations() -> list[str]:
    """The judge turns whose likelihoods make the score distribution: "Score: 0/10" ... "Score: 10/10"."""
    return [f"Score: {k}/10" for k in SCORE_LEVELS]


def expected_score(logprobs: Sequence[float]) -> float:
    """Mean of k/10 under softmax(logprobs) over the levels k = 0..10."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    return sum(w * k / 10 for w, k in zip(weights, SCORE_LEVELS)) / sum(weights)


def expected_profile_scores(llm: LLM, histories: Sequence[str], profiles: Sequence[str]) -> list[float]:
    """The judge's expected score of every (H, M_c) pair; an empty profile scores 0 without a call."""
    out = []
    for history, profile in zip(histories, profiles):
        if not profile.strip():
            out.append(0.0)
            continue
        scored = llm.loglikelihood(judge_chat(history, profile), score_continuations(), agent="judge")
        out.append(expected_score([s.logprob for s in scored]))
    return out
