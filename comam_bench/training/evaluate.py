"""Validation during training, and the final evaluation through the harness runner.

Validation replays the training setting on held-out questions (H = the evidence session, one greedy or
low-temperature trajectory each) and reports accuracy with the harness scorer, plus the local rewards.
The final evaluation is an ordinary harness run, `--system comam --system-arg checkpoint=DIR`: the
construction agents read the full multi-session history, and the run record lands in the results folder's
runs/ (eval.results_dir, default my-results/) where the leaderboard finds it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

from comam_bench.comam.agents import Pipeline
from comam_bench.training.answer import ANSWER_RULES, answer_rewards
from comam_bench.training.data import Example
from comam_bench.training.recipe import Recipe
from comam_bench.training.rollout import Scorer, rollout


def validate(pipeline: Pipeline, scorer: Scorer, examples: Sequence[Example], temperature: float, seed: int,
             batch: int = 8) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Means over `examples` (one trajectory each, in batches) and one row per question.

    val/accuracy is the recipe's answer rule (the training reward); val/accuracy/letter and
    val/accuracy/likelihood are both protocols on the same trajectories (the discriminative letter costs
    nothing, the likelihood choice one scoring by the judge). The per-question rows let a summary pair the
    same held-out questions before and after training."""
    agents = [a for a in pipeline.settings.agents if a != "answer"]
    per_question: list[dict[str, Any]] = []
    for start in range(0, len(examples), batch):
        groups = rollout(pipeline, examples[start:start + batch], 1, temperature, seed)
        scorer.score(groups, agents)
        for g in groups:
            row = {"question": g.example.question.id, "accuracy": g.answer[0]}
            for rule in ANSWER_RULES:
                row[f"accuracy/{rule}"] = g.answer[0] if rule == scorer.answer else \
                    answer_rewards(rule, g.trajectories, g.example.question, scorer.judge)[0]
            row.update({f"reward/{a}": g.local[a][0] for a in agents})
            per_question.append(row)
    n = len(per_question)
    keys = [k for k in per_question[0] if k != "question"] if per_question else ["accuracy"]
    out = {f"val/{k}": sum(r[k] for r in per_question) / n if n else 0.0 for k in keys}
    out["val/questions"] = float(n)
    return out, per_question


def final_evaluation(recipe: Recipe, checkpoint: Path, base_spec: str,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint with the harness runner; returns the headline of its run record."""
    from comam_bench.runner import Run, RunConfig

    e = recipe.eval
    cfg = RunConfig(task=e.final_task or recipe.data.task, system="comam", model=base_spec,
                    data_dir=recipe.data.data_dir,
                    system_args={"checkpoint": str(checkpoint.resolve()), "temperature": e.temperature},
                    seed=recipe.seed, limit=e.final_limit, batch_size=e.final_batch_size, protocol=e.final_protocol,
                    results_dir=Path(e.results_dir) if e.results_dir else None,
                    # the checkpoint path is in the spec, so an equal spec is this very checkpoint re-evaluated
                    overwrite=True)
    run = Run(cfg, progress)
    record = run.execute()
    scores = record["scores"]
    return {"run_id": record["run_id"], "accuracy": scores["accuracy"], "n": scores["n"],
            "ci95": scores.get("ci95"), "dir": str(run.dir.path)}
