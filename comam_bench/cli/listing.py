"""`comam-bench tasks` and `comam-bench systems`: list what exists without importing torch."""
from __future__ import annotations

import json

import click
from rich.markup import escape
from rich.table import Column, Table

from comam_bench import registry
from comam_bench.cli.console import console
from comam_bench.results import REFERENCE_RESULTS_DIR

out = console()
# Piped, a table takes its natural width (cli/console.py); a paragraph-long description would make every row
# one line of a thousand characters, so it wraps here, on a terminal and off it.
DESCRIPTION_WIDTH = 140
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _task_source(spec: dict) -> str:
    if spec.get("source") == "synthetic":
        return f"synthetic (preset {spec.get('preset')}, seed {spec.get('seed', 0)}; generated offline)"
    if not spec.get("hf"):  # LoCoMo: a local file only (its license keeps it from being fetched for you)
        return f"--data-dir DIR only ({spec.get('license') or 'see the task spec'})"
    hf = spec.get("hf") or {}
    return f"--data-dir DIR, or HF {hf.get('repo', '?')}@{str(hf.get('revision', '?'))[:10]} online"


@click.command()
@JSON_OPTION
def tasks(as_json) -> None:
    """The tasks, with sizes, where their data comes from, and the time per question the committed runs took."""
    from comam_bench.timings import describe, measured_times

    times = measured_times(registry.project_root() / REFERENCE_RESULTS_DIR / "runs")
    rows = []
    for name in registry.task_names():
        try:
            spec = registry.load_task_spec(name)
        except registry.RegistryError as exc:  # one broken spec file must not hide the others
            rows.append({"task": name, "size": "?", "source": "?", "description": f"(cannot read: {exc})",
                         "seconds_per_question": None})
            continue
        rows.append({"task": name, "size": str(spec.get("size", "")), "source": _task_source(spec),
                     "description": spec.get("description", ""), "seconds_per_question": times.get(name)})
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    table = Table("task", "size", "source", f"time per question ({REFERENCE_RESULTS_DIR}/runs)",
                  Column("description", max_width=DESCRIPTION_WIDTH))
    for row in rows:
        table.add_row(row["task"], row["size"], row["source"], describe(row["seconds_per_question"]),
                      row["description"])
    out.print(table)
    out.print(f"Times are wall seconds per question, memory building included, of the committed runs with a "
              f"model ({REFERENCE_RESULTS_DIR}/runs, any system); yours depend on the system, model and machine.")


@click.command()
@JSON_OPTION
def systems(as_json) -> None:
    """Every memory system: built-in, YAML specs in baselines/, and entry-point plugins."""
    rows = []
    for name in registry.system_names():
        try:
            spec = registry.resolve_system(name)
            rows.append({"system": name, "source": spec.source, "description": registry.describe_system(spec)})
        except registry.RegistryError as exc:
            rows.append({"system": name, "source": None, "description": None, "error": str(exc)})
    warnings = list(registry.system_conflicts())
    if as_json:
        click.echo(json.dumps({"systems": rows, "warnings": warnings}, indent=2, ensure_ascii=False))
        return
    table = Table("system", "source", Column("description", max_width=DESCRIPTION_WIDTH))
    for row in rows:
        failed = "error" in row
        table.add_row(row["system"], "?" if failed else row["source"],
                      f"(cannot resolve: {row['error']})" if failed else row["description"])
    out.print(table)
    for warning in warnings:
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
    out.print("A plugin can also be named directly: --system package.module:Class")
