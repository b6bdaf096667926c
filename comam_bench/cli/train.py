"""`comam-bench train`: train CoMAM from a recipe in trainers/ with the backend the recipe names."""
from __future__ import annotations

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

out = Console(highlight=False)
SHOWN = ("reward/answer", "reward/extraction", "reward/profile", "reward/retrieval")


class TrainView:
    """Turns trainer events into a step bar, one line per validation, and a bar for the final evaluation."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.steps = None
        self.final = None

    def __call__(self, event: str, **f) -> None:
        if event == "start":
            out.print(f"[bold]{f['recipe']}[/bold]: {f['train']} training / {f['validation']} validation questions "
                      f"({f['exact_evidence']} of {f['examples']} with exact gold evidence; dropped {f['dropped']})")
            self.steps = self.progress.add_task("training", total=f["total"], completed=f["done"])
        elif event == "step":
            row = f["row"]
            text = "  ".join(f"{k.split('/')[1]} {row[k]:.2f}" for k in SHOWN if k in row)
            self.progress.update(self.steps, completed=f["step"], description=f"training  {text}")
        elif event == "validation":
            row = f["row"]
            out.print(f"step {f['step']}: validation accuracy {row['val/accuracy']:.3f} over "
                      f"{int(row['val/questions'])} questions")
        elif event == "phase" and len(f["agents"]) == 1:
            out.print(f"phase {f['phase'] + 1}: training the {f['agents'][0]} agent, the others frozen")
        elif event == "checkpoint":
            out.print(f"checkpoint: {f['path']}")
        elif event == "final":
            if self.final is None:
                self.final = self.progress.add_task("final evaluation", total=f["total"])
            self.progress.update(self.final, completed=f["done"], total=f["total"])


@click.command()
@click.option("--recipe", required=True, help="A recipe in trainers/ (e.g. smoke, cpu-smollm2) or a path to a YAML file.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a recipe key, dotted for nested keys, value read as YAML (repeatable): "
                   "--set train.lr=1e-5 --set credit.mode=equal")
@click.option("--resume", type=click.Path(file_okay=False), help="Continue from a checkpoint this trainer wrote.")
def train(recipe, sets, resume) -> None:
    """Train CoMAM's agents with RL (rollouts, local + global rewards, NDCG credit, per-agent GRPO)."""
    from comam_bench.training.base import train_recipe

    sets = list(sets) + ([f"resume={resume}"] if resume else [])
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=out, transient=False) as progress:
        results = train_recipe(recipe, sets, progress=TrainView(progress))
    for result in results:
        out.print(f"[bold]{result.recipe}[/bold]: {result.steps} steps; checkpoint {result.checkpoint}")
        if result.metrics:
            out.print(f"metrics {result.metrics}; curves {result.plot}")
        if result.info.get("note"):  # backends that hand work elsewhere (openrlhf) say where it went
            out.print(result.info["note"])
        run = result.final_run
        if run:
            out.print(f"final evaluation: accuracy {run['accuracy']:.3f} over {run['n']} questions; "
                      f"record {run['dir']}/run.json")
