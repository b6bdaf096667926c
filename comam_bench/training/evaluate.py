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
from comam_bench.training.data import Example
from comam_bench.training.recipe import Recipe
from comam_bench.training.rollout import Scorer, rollout


def validate(pipeline: Pipeline, scorer: Scorer, examples: Sequence[Example], temperature: float, seed: int,
             batch: int = 8) -> dict[str, float]:
    """val/accuracy and val/reward/<agent> over `examples`, one trajectory each, in batches."""
    agents = [a for a in pipeline.settings.agents if a != "answer"]
    correct, rewards, n = 0.0, {a: 0.0 for a in agents}, 0
    for start in range(0, len(examples), batch):
        groups = rollout(pipeline, examples[start:start + batch], 1, temperature, seed)
        scorer.score(groups, agents)
        for g in groups:
            correct += g.answer[0]
            for a in agents:
                rewards[a] += g.local[a][0]
            n += 1
    out = {"val/accuracy": correct / n if n else 0.0, "val/questions": float(n)}
    out.update({f"val/reward/{a}": v / n if n else 0.0 for a, v in rewards.items()})
    return out


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
