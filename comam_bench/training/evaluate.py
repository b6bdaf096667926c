"""The final evaluation of a trained checkpoint through the harness runner.

It is an ordinary harness run of the recipe's system (`--system SYSTEM --system-arg checkpoint=DIR
--embedder EMBEDDER`, SYSTEM the recipe's `system:`, comam by default): the construction agents read the
full multi-session history, and the run record lands in the results folder's runs/ (eval.results_dir,
default my-results/) where the leaderboard finds it. Validation during training replays the system's own
pipeline and lives with it (comam_bench.comam.training.validation).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from comam_bench.training.recipe import Recipe


def final_evaluation(recipe: Recipe, checkpoint: Path, base_spec: str,
                     progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Evaluate a checkpoint with the harness runner; returns the headline of its run record."""
    from comam_bench.runner import Run, RunConfig

    e = recipe.eval
    cfg = RunConfig(task=e.final_task or recipe.data.task, system=recipe.system, model=base_spec,
                    embedder=recipe.model.embedder, data_dir=recipe.data.data_dir,
                    system_args={"checkpoint": str(checkpoint.resolve()), "temperature": e.temperature},
                    seed=recipe.seed, limit=e.final_limit, batch_size=e.final_batch_size, protocol=e.final_protocol,
                    results_dir=Path(e.results_dir) if e.results_dir else None,
                    # the checkpoint path is in the spec, so an equal spec is this very checkpoint re-evaluated
                    overwrite=True)
    run = Run(cfg, progress)
    from comam_bench.record import RunRecord

    record = RunRecord.from_dict(run.execute())
    return {"run_id": record.run_id, "accuracy": record.scores.accuracy, "n": record.scores.n,
            "ci95": record.scores.ci95, "dir": str(run.dir.path)}
