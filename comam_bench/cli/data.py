"""`comam-bench data validate` and `comam-bench data generate`."""
from __future__ import annotations

import click
from comam_bench.cli.console import console
from rich.markup import escape

out = console()


@click.group()
def data() -> None:
    """Inspect and generate PersonaMem data."""


@data.command()
@click.option("--task", required=True, help="A task name (see `comam-bench tasks`).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory holding the task's data files.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def validate(task, data_dir, as_json) -> None:
    """What is wrong with a data set, row by row (bad rows are skipped by runs and counted in records).

    Exit status: 0 when a run would use every row, 1 when it would skip some rows, 2 when it would refuse
    the files (unknown labels, no contexts file, no usable rows, a file that cannot be read).
    """
    import json
    import sys

    from comam_bench.data import DataError, resolve_spec, validate_task
    from comam_bench.data.validate import ValidationReport

    try:
        report = validate_task(task, data_dir)
    except DataError as exc:
        # A file refused whole (garbage, truncated, missing columns, empty) is a report too: --json gives
        # exit_code and refusals for it as for any other refusal.
        report = ValidationReport(str(resolve_spec(task).get("name", task)), {}, {}, refusals=[str(exc)])
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2, sort_keys=True, default=str))
    else:
        out.print(escape(report.render()))
    sys.exit(report.exit_code)


@data.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--preset", default="mini", show_default=True,
              type=click.Choice(["mini", "32k", "128k", "1m", "train", "cpu"]), help="Size of the data set.")
@click.option("--seed", default=0, show_default=True, type=int)
def generate(out_dir, preset, seed) -> None:
    """Synthetic PersonaMem in the release schema (+ gold evidence in a separate file), deterministic by seed."""
    from comam_bench.data.synthetic import generate as gen

    for kind, path in gen(out_dir, preset=preset, seed=seed).items():
        out.print(f"wrote {kind}: {path}")
