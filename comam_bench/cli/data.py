"""`comam-bench data validate` and `comam-bench data generate`."""
from __future__ import annotations

import click
from rich.console import Console

out = Console(highlight=False)


@click.group()
def data() -> None:
    """Inspect and generate PersonaMem data."""


@data.command()
@click.option("--task", required=True, help="A task name (see `comam-bench tasks`).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory holding the task's data files.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(task, data_dir, as_json) -> None:
    """What is wrong with a data set, row by row (bad rows are skipped by runs and counted in records)."""
    import json

    from comam_bench.data import validate_task

    report = validate_task(task, data_dir)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        out.print(report.render())


@data.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--preset", default="mini", show_default=True, help="mini | 32k | 128k | 1m")
@click.option("--seed", default=0, show_default=True, type=int)
def generate(out_dir, preset, seed) -> None:
    """Synthetic PersonaMem in the release schema (+ gold evidence in a separate file), deterministic by seed."""
    from comam_bench.data.synthetic import generate as gen

    for kind, path in gen(out_dir, preset=preset, seed=seed).items():
        out.print(f"wrote {kind}: {path}")
