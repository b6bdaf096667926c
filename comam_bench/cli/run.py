"""`comam-bench run` and `comam-bench leaderboard`."""
from __future__ import annotations

from pathlib import Path

import click
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from comam_bench.keep import DEFAULT_KEEP_CHARS
from comam_bench.runner import DEFAULT_EMBEDDER, DEFAULT_MODEL, RunConfig, RunError

out = Console(highlight=False)


def parse_system_args(pairs: tuple[str, ...]) -> dict:
    """KEY=VALUE pairs; values are read as YAML scalars (numbers, booleans, lists)."""
    args = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise RunError(f"--system-arg {pair!r} is not KEY=VALUE (for example --system-arg top_k=5)")
        args[key.strip()] = yaml.safe_load(value) if value else ""
    return args


@click.command()
@click.option("--system", required=True, help="A system name (see `comam-bench systems`), a YAML spec name, "
              "or package.module:Class.")
@click.option("--task", default="personamem-mini", show_default=True, help="A task name (see `comam-bench tasks`).")
@click.option("--model", default=None,
              help=f"Model spec: smollm2 | hf:DIR_OR_GGUF[,opt=v] | openai:NAME,base_url=URL | vllm:PATH  "
                   f"[default: {DEFAULT_MODEL}, or a --system-arg checkpoint's base model]")
@click.option("--embedder", default=DEFAULT_EMBEDDER, show_default=True, help="minilm | st:DIR | hash:DIM")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Directory holding the task's data files.")
@click.option("--system-arg", "system_args", multiple=True, help="KEY=VALUE argument for the system (repeatable).")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--limit", type=int, help="Only the first N questions (in run order: by context, then end index).")
@click.option("--batch-size", default=4, show_default=True, type=int, help="Questions answered per system call.")
@click.option("--results-dir", type=click.Path(file_okay=False), help="Default: the project's results/.")
@click.option("--run-id", help="Name of the run directory (default: derived from task, system, model, seed, spec hash).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run with the same spec.")
@click.option("--overwrite", is_flag=True, help="Discard an existing run with the same id.")
@click.option("--keep-memory/--no-keep-memory", default=None,
              help="Keep the memory each answer was given (and each agent's output) in memory.jsonl, for "
                   "`comam-bench view`  [default: on for runs of up to 1000 questions]")
@click.option("--keep-chars", default=DEFAULT_KEEP_CHARS, show_default=True, type=click.IntRange(min=0),
              help="Characters kept per memory text (head and tail; 0 = no cap).")
def run(system, task, model, embedder, data_dir, system_args, seed, limit, batch_size, results_dir, run_id,
        resume, overwrite, keep_memory, keep_chars) -> None:
    """Evaluate a memory system on a task; writes results/runs/<id>/run.json and samples.jsonl."""
    from comam_bench.runner import Run

    cfg = RunConfig(task=task, system=system, model=model, embedder=embedder, data_dir=data_dir,
                    system_args=parse_system_args(system_args), seed=seed, limit=limit, batch_size=batch_size,
                    results_dir=Path(results_dir) if results_dir else None, run_id=run_id, resume=resume,
                    overwrite=overwrite, keep_memory=keep_memory, keep_chars=keep_chars)
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    progress = Progress(*columns, console=out, transient=False)
    runner = Run(cfg, lambda done, total: progress.update(handle, completed=done, total=total))
    runner.prepare()  # bad names, data and run-directory clashes fail here, before any bar is drawn
    with progress:
        handle = progress.add_task(f"{system} on {task}", total=len(runner.questions))
        record = runner.execute()
    show_summary(record, runner.dir.path)


def show_summary(record: dict, run_dir: Path) -> None:
    s, c = record["scores"], record["cost"]["per_question"]
    lo, hi = s["ci95"]
    out.print(f"[bold]{record['system']['name']}[/bold] on {record['task']['name']}: accuracy "
              f"{s['accuracy']:.3f} (95% CI {lo:.3f}-{hi:.3f}, chance {s['chance']:.2f}) over {s['n']} questions; "
              f"skipped rows: {record['skipped']['count']}")
    out.print(f"per question: {c['calls']} LLM calls, {c['prompt_tokens']} prompt + {c['completion_tokens']} "
              f"generated tokens, {c['seconds']} s")
    for name, t in s["by_type"].items():
        out.print(f"  {name:45s} {t['accuracy']:.3f}  (n={t['n']})")
    out.print(f"record: {run_dir / 'run.json'}")


@click.command()
@click.option("--results-dir", type=click.Path(file_okay=False), help="Default: the project's results/.")
@click.option("--html", "html_page", is_flag=True,
              help="Also write leaderboard.html (sortable, with the chart) and each listed run's report.html.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="With --html: the task data folder, for the "
              "reports' question texts.")
def leaderboard(results_dir, html_page, data_dir) -> None:
    """Tables and a chart built only from run records: LEADERBOARD.md, leaderboard.json, leaderboard.png."""
    from comam_bench.leaderboard import build_board, render_terminal, scan_runs, write_outputs
    from comam_bench.registry import project_root

    root = Path(results_dir) if results_dir else project_root() / "results"
    runs, ignored = scan_runs(root / "runs")
    for item in ignored:
        out.print(f"[yellow]ignored[/yellow] {item['run']}: {item['reason']}")
    board = build_board(runs)
    for table in render_terminal(board):
        out.print(table)
    paths = write_outputs(board, root)
    for kind, path in paths.items():
        out.print(f"wrote {kind}: {path}")
    if html_page:
        from comam_bench.view.board import write_board_html

        page = write_board_html(board, root, paths.get("png"), data_dir=data_dir,
                                warn=lambda m: out.print(f"[yellow]note[/yellow] {m}"))
        out.print(f"wrote html: {page['html']} (and {len(page['reports'])} run reports)")
