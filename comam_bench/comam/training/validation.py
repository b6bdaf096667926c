"""Validation during training: held-out questions replayed through CoMAM's Pipeline, scored.

Validation replays the training setting on held-out questions (H = the evidence session, one greedy or
low-temperature trajectory each) and reports accuracy with the harness scorer, plus the local rewards.
"""
from __future__ import annotations

from typing import Any, Sequence

from comam_bench.api import LETTERS
from comam_bench.comam.agents import Pipeline
from comam_bench.comam.training.answer import answer_distributions, answer_rewards, option_distributions, rewards_from
from comam_bench.comam.training.rollout import Scorer, rollout
from comam_bench.protocol import extract_answer, memory_likelihood_chat
from comam_bench.training.data import Example


def validate(pipeline: Pipeline, scorer: Scorer, examples: Sequence[Example], temperature: float, seed: int,
             batch: int = 8) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Means over `examples` (one trajectory each, in batches) and one row per question.

    val/accuracy is the recipe's answer rule (the training reward); question_row reports every protocol
    on the same trajectories.
    val/accuracy/memory is the likelihood protocol answering from the agents' memory alone (the memory
    view the last agent reads: profile and M_f, no raw history): what the memory is worth, whatever the
    retrieval agent does with it. val/answer_format is the share of replies with a readable letter. Each
    row also keeps the agents' texts, so what changed is visible, not only how it scored."""
    agents = [a for a in pipeline.settings.agents if a != "answer"]
    per_question: list[dict[str, Any]] = []
    for start in range(0, len(examples), batch):
        groups = rollout(pipeline, examples[start:start + batch], 1, temperature, seed)
        scorer.score(groups, agents)
        for g in groups:
            per_question.append(question_row(pipeline, scorer, g, agents))
    n = len(per_question)
    keys = [k for k, v in per_question[0].items() if isinstance(v, float)] if per_question else ["accuracy"]
    out = {f"val/{k}": sum(r[k] for r in per_question) / n if n else 0.0 for k in keys}
    out["val/questions"] = float(n)
    return out, per_question


def question_row(pipeline: Pipeline, scorer: Scorer, g: Any, agents: Sequence[str]) -> dict[str, Any]:
    """One validated question: the answer under each protocol, memory-only accuracy, local rewards, texts.

    accuracy/letter is the reply's own letter; accuracy/probability is p(gold) and accuracy/likelihood the
    protocol's choice, both after the retrieved evidence with the option texts stripped (answer.py: a
    reply that repeats an option must not count as knowing the user)."""
    t, q = g.trajectories[0], g.example.question
    dist = g.distributions[0] if scorer.answer == "probability" else \
        answer_distributions("probability", g.trajectories, q, scorer.judge)[0]
    row: dict[str, Any] = {"question": q.id, "session": f"{q.context_id}/{g.example.session}",
                           "accuracy": float(g.answer[0]),
                           "accuracy/letter": answer_rewards("letter", g.trajectories, q, None)[0],
                           "accuracy/likelihood": rewards_from("likelihood", q, [dist])[0],
                           "accuracy/probability": rewards_from("probability", q, [dist])[0],
                           "accuracy/memory": memory_accuracy(pipeline, scorer, t, q),
                           "answer_format": 1.0 if extract_answer(t.final.text) in LETTERS else 0.0}
    row.update({f"reward/{a}": float(g.local[a][0]) for a in agents})
    row["texts"] = {s.agent: s.text for s in t.steps}
    return row


def memory_accuracy(pipeline: Pipeline, scorer: Scorer, t: Any, q: Any) -> float:
    """1.0 when the likelihood protocol, reading only the memory view, chooses the gold option."""
    last = t.steps[-1]
    view = pipeline.memory_view(last.agent, last.state.memory, q)
    dist = option_distributions(scorer.judge, q, [memory_likelihood_chat(view.text, q)])[0]
    return rewards_from("likelihood", q, [dist])[0]
