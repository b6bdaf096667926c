"""`comam-bench view`: a run's questions (or several runs side by side) as one self-contained HTML file."""
from __future__ import annotations

from pathlib import Path

import click
from comam_bench.cli.console import console
from comam_bench.errors import ComamBenchError

out = console()


class ViewUsageError(click.ClickException, ComamBenchError):
    exit_code = 2


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", "out_file", type=click.Path(dir_okay=False, path_type=Path),
              help="HTML file to write  [default: RUN_DIR/report.html for one run, comam-bench-view.html for several]")
@click.option("--data-dir", type=click.Path(file_okay=False),
              help="Folder with the task's data files, for the question texts (as for `run --data-dir`).")
@click.option("--serve", is_flag=True, help="Then serve the file on http://127.0.0.1:PORT until Ctrl-C.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port for --serve (0: any free).")
def view(run_dirs, out_file, data_dir, serve, port) -> None:
    """Per-question report of one or more runs: question, memory given, answer, verdict and cost, filterable;
    two runs on one task side by side show where they disagree. No network needed to open it."""
    from comam_bench.view import ViewError, write_report

    target = out_file or (run_dirs[0] / "report.html" if len(run_dirs) == 1 else Path("comam-bench-view.html"))
    try:
        payload = write_report(list(run_dirs), target, data_dir)
    except ViewError as exc:
        raise ViewUsageError(str(exc)) from None
    for note in payload["notes"]:
        out.print(f"[yellow]note[/yellow] {note}")
    n = len(payload["questions"])
    out.print(f"wrote {target} ({n} questions, {len(payload['runs'])} run(s), {target.stat().st_size:,} bytes)")
    if serve:
        from comam_bench.view.serve import serve as serve_file

        try:
            serve_file(target, port, say=out.print)
        except OSError as exc:  # the port is taken, or not ours to bind
            raise ViewUsageError(f"cannot serve on 127.0.0.1:{port} ({exc.strerror or exc}); pass --port 0 for "
                                 f"any free port. The report is written: {target}") from None
