"""See a run in the browser: `comam-bench view` (one run's questions, or several runs side by side) and the
HTML leaderboard page. Both are single self-contained files; see page.py for why.

    write_report([Path("results/runs/<id>")], Path("report.html"))
"""
from __future__ import annotations

from pathlib import Path

from comam_bench.view.load import TaskTexts, ViewError, build_payload
from comam_bench.view.page import render_report

__all__ = ["TaskTexts", "ViewError", "build_payload", "render_report", "write_report"]


def write_report(run_dirs: list[Path], out: Path, data_dir: str | Path | None = None,
                 texts: TaskTexts | None = None) -> dict:
    """Write the report of `run_dirs` to `out`; returns the payload it embeds (notes included)."""
    payload = build_payload([Path(d) for d in run_dirs], data_dir, texts)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_report(payload), encoding="utf-8", newline="\n")
    return payload
