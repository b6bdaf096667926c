"""`comam-bench tasks` and `comam-bench systems`: list what exists without importing torch."""
from __future__ import annotations

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from comam_bench import registry

out = Console(highlight=False)


@click.command()
def tasks() -> None:
    """The tasks, with sizes and where their data comes from."""
    table = Table("task", "size", "source", "description")
    for name in registry.task_names():
        spec = registry.load_task_spec(name)
        if spec.get("source") == "synthetic":
            source = f"synthetic (preset {spec.get('preset')}, seed {spec.get('seed', 0)}; generated offline)"
        elif not spec.get("hf"):  # LoCoMo: a local file only (its license keeps it from being fetched for you)
            source = f"--data-dir DIR only ({spec.get('license') or 'see the task spec'})"
        else:
            hf = spec.get("hf") or {}
            source = f"--data-dir DIR, or HF {hf.get('repo', '?')}@{str(hf.get('revision', '?'))[:10]} online"
        table.add_row(name, str(spec.get("size", "")), source, spec.get("description", ""))
    out.print(table)


@click.command()
def systems() -> None:
    """Every memory system: built-in, YAML specs in baselines/, and entry-point plugins."""
    table = Table("system", "source", "description")
    for name in registry.system_names():
        try:
            spec = registry.resolve_system(name)
            table.add_row(name, spec.source, registry.describe_system(spec))
        except registry.RegistryError as exc:
            table.add_row(name, "?", f"(cannot resolve: {exc})")
    out.print(table)
    for warning in registry.system_conflicts():
        out.print(f"[yellow]warning:[/yellow] {escape(warning)}", soft_wrap=True)
    out.print("A plugin can also be named directly: --system package.module:Class")
