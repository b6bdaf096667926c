"""The global reward r_ans (comam.md Eq. 12) under the named rules of recipe key rewards.answer.

- letter: the retrieval agent's reply names exactly the gold option (protocol.is_correct), the paper's rule.
- likelihood: the option the likelihood protocol chooses after the agent's retrieved evidence is the gold
  one (without a retrieval agent: after the memory view the answer step reads). The chat and the choice are
  the evaluator's own code (AnswerState.likelihood_memory, protocol.memory_likelihood_chat or
  as_likelihood_chat, likelihood.score_answers / sample_fields), and the scoring model is the
  frozen base (the judge with adapters off), as in `comam-bench run --protocol likelihood`, where the run's
  model scores the options.
- probability: the same scoring, continuous: p(gold) = softmax over the four options' per-token
  log-probabilities (the protocol's headline normalisation), after the evidence with every option's text
  (and each of its sentences) stripped out. A reply that repeats an option then scores what an empty one
  scores: the reward pays for evidence about the user, not for echoing an answer (an audit found the
  likelihood rule tracking which option text the reply repeated in 60 of 60 cases).
"""
from __future__ import annotations

import math
import re
from typing import Sequence

from comam_bench.api import LETTERS, LLM, Answer, Question
from comam_bench.comam.states import Trajectory
from comam_bench.protocol import HEADLINE_NORM, as_likelihood_chat, memory_likelihood_chat, normalised, \
    option_continuations
from comam_bench.comam.training import rewards as R

ANSWER_RULES = ("letter", "likelihood", "probability")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
MIN_SENTENCE_WORDS = 3  # shorter option sentences ("Enjoy!") are too common to strip from evidence


def answer_rewards(rule: str, trajectories: Sequence[Trajectory], question: Question, llm: LLM | None,
                   ) -> list[float]:
    """r_ans of every trajectory of one group."""
    if rule == "letter":
        return [R.answer_reward(t.final.text, question.gold) for t in trajectories]
    return rewards_from(rule, question, answer_distributions(rule, trajectories, question, llm))


def answer_distributions(rule: str, trajectories: Sequence[Trajectory], question: Question, llm: LLM | None,
                         ) -> list[list[float]]:
    """The four options' distribution after each trajectory's evidence, as `rule` reads it (probability:
    option texts stripped; likelihood: the evidence as written)."""
    if rule not in ANSWER_RULES or rule == "letter":
        raise ValueError(f"answer rule {rule!r} has no option distribution; one of likelihood, probability")
    if llm is None:
        raise ValueError(f"rewards.answer={rule} needs a model to score the options (rewards.judge)")
    chats = [answer_chat(t, question, strip=rule == "probability") for t in trajectories]
    return option_distributions(llm, question, chats)


def rewards_from(rule: str, question: Question, distributions: Sequence[Sequence[float]]) -> list[float]:
    """probability: p(gold); likelihood: 1 when the protocol's choice (the mode; ties: earlier letter) is gold."""
    gold = LETTERS.index(question.gold)
    if rule == "probability":
        return [d[gold] for d in distributions]
    return [1.0 if choice(d) == gold else 0.0 for d in distributions]


def choice(distribution: Sequence[float]) -> int:
    """The option the likelihood protocol picks: the most likely, the earlier letter on a tie."""
    return max(range(len(distribution)), key=lambda i: (distribution[i], -i))


def answer_chat(t: Trajectory, question: Question, strip: bool = False) -> list[dict]:
    """What the likelihood protocol scores the options after for one trajectory (options stripped on ask)."""
    if t.steps[-1].agent == "answer":  # no retrieval agent: after the memory view the answer step read
        return as_likelihood_chat(t.steps[-1].prompt, question)
    evidence = t.final.likelihood_memory()[0]
    return memory_likelihood_chat(strip_options(evidence, question) if strip else evidence, question)


def option_distributions(llm: LLM, question: Question, chats: Sequence[list[dict]]) -> list[list[float]]:
    """The distribution over the four options after each chat; equal chats share one scoring."""
    from comam_bench.likelihood import score_answers

    keys = [repr(c) for c in chats]
    unique = dict(zip(reversed(keys), reversed(chats)))
    answers = [Answer("", c) for c in unique.values()]
    scores = score_answers(llm, [question] * len(answers), answers)
    dist = {k: option_distribution(s) for k, s in zip(unique, scores)}
    return [dist[k] for k in keys]


def option_distribution(scores) -> list[float]:
    """Softmax over the options' headline-normalised log-probabilities (the protocol's argmax is its mode)."""
    values = [normalised(s, HEADLINE_NORM) for s in scores]
    top = max(values)
    weights = [math.exp(v - top) for v in values]
    total = sum(weights)
    return [w / total for w in weights]


def strip_options(text: str, question: Question) -> str:
    """`text` without any option's full text or any of its sentences (case and spacing ignored)."""
    pieces: list[str] = []
    for option in option_continuations(question):
        pieces.append(option)
        pieces += [s for s in _SENTENCE_END.split(option) if len(s.split()) >= MIN_SENTENCE_WORDS]
    for piece in sorted(set(pieces), key=len, reverse=True):  # whole options before their sentences
        pattern = r"\s+".join(re.escape(w) for w in piece.split())
        text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return re.sub(r"[ \t]+", " ", text).strip()
