"""The global reward r_ans (comam.md Eq. 12) under the two named rules of recipe key rewards.answer.

- letter: the retrieval agent's reply names exactly the gold option (protocol.is_correct), the paper's rule.
- likelihood: the option the likelihood protocol chooses after the agent's retrieved evidence is the gold
  one (without a retrieval agent: after the memory view the answer step reads). The chat and the choice are
  the evaluator's own code (AnswerState.likelihood_memory, protocol.memory_likelihood_chat or
  as_likelihood_chat, likelihood.score_answers / sample_fields), and the scoring model is the
  frozen base (the judge with adapters off), as in `comam-bench run --protocol likelihood`, where the run's
  model scores the options. A 135M model that never writes a letter still earns reward when its evidence
  makes the gold option likelier, which is what the retrieval step is for.
"""
from __future__ import annotations

from typing import Sequence

from comam_bench.api import LLM, Answer, Question
from comam_bench.comam.states import Trajectory
from comam_bench.protocol import as_likelihood_chat, memory_likelihood_chat
from comam_bench.training import rewards as R

ANSWER_RULES = ("letter", "likelihood")


def answer_rewards(rule: str, trajectories: Sequence[Trajectory], question: Question, llm: LLM | None,
                   ) -> list[float]:
    """r_ans of every trajectory of one group."""
    if rule == "letter":
        return [R.answer_reward(t.final.text, question.gold) for t in trajectories]
    if rule != "likelihood":
        raise ValueError(f"unknown answer rule {rule!r}; one of {', '.join(ANSWER_RULES)}")
    if llm is None:
        raise ValueError("rewards.answer=likelihood needs a model to score the options (rewards.judge)")
    from comam_bench.likelihood import sample_fields, score_answers

    chats = [as_likelihood_chat(t.steps[-1].prompt, question) if t.steps[-1].agent == "answer"  # no retrieval:
             else memory_likelihood_chat(t.final.likelihood_memory()[0], question)  # after M's view
             for t in trajectories]
    keys = [repr(c) for c in chats]
    unique = dict(zip(reversed(keys), reversed(chats)))  # trajectories that read the same memory share a scoring
    answers = [Answer("", c) for c in unique.values()]
    scores = score_answers(llm, [question] * len(answers), answers)
    correct = {k: sample_fields(question, a, s)["correct"] for k, a, s in zip(unique, answers, scores)}
    return [1.0 if correct[k] else 0.0 for k in keys]
