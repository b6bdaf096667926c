"""`comam-bench train`: train CoMAM from a recipe in trainers/ with the backend the recipe names."""
from __future__ import annotations

import click
from comam_bench.cli.console import console

from comam_bench.cli.progress import TrainProgress, quiet_third_party
from comam_bench.results import USER_RESULTS_DIR

out = console()


@click.command()
@click.option("--recipe", required=True, help="A recipe in trainers/ (e.g. smoke, cpu-smollm2) or a path to a YAML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, dotted for nested keys, value read as YAML (repeatable): "
                   "--set train.lr=1e-5 --set credit.mode=equal")
@click.option("--output-dir", type=click.Path(file_okay=False), metavar="DIR",
              help=f"Checkpoints, metrics and curves (the recipe's output_dir). Default: {USER_RESULTS_DIR}/training/"
                   "<recipe> in the project (git-ignored).")
@click.option("--results-dir", type=click.Path(file_okay=False), metavar="DIR",
              help=f"Results folder for the final evaluation's run record (DIR/runs/<id>/; the recipe's "
                   f"eval.results_dir), as in `comam-bench run`. Default: {USER_RESULTS_DIR}/.")
@click.option("--resume", type=click.Path(file_okay=False), help="Continue from a checkpoint this trainer wrote.")
def train(recipe, sets, output_dir, results_dir, resume) -> None:
    """Train CoMAM's agents with RL (rollouts, local + global rewards, NDCG credit, per-agent GRPO)."""
    from comam_bench.training.base import train_recipe

    quiet_third_party()
    named = [("output_dir", output_dir), ("eval.results_dir", results_dir), ("resume", resume)]
    sets = list(sets) + [f"{key}={value}" for key, value in named if value]
    with TrainProgress(out) as display:
        results = train_recipe(recipe, sets, progress=display)
    for result in results:
        out.print(f"[bold]{result.recipe}[/bold]: {result.steps} steps; checkpoint {result.checkpoint}", soft_wrap=True)
        if result.metrics:
            out.print(f"metrics {result.metrics}; curves {result.plot}", soft_wrap=True)
        if result.info.get("note"):  # backends that hand work elsewhere (openrlhf) say where it went
            out.print(result.info["note"], soft_wrap=True)
        run = result.final_run
        if run:
            out.print(f"final evaluation: accuracy {run['accuracy']:.3f} over {run['n']} questions; "
                      f"record {run['dir']}/run.json", soft_wrap=True)
