"""Measured time per question, per task, from run records (what `comam-bench tasks` shows instead of a guess).

A task's cost depends mostly on the system and the machine, so the summary is a median and a range over
every complete record with a model (systems without one answer in no time and would only pull it down).
"""
from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from comam_bench.record import RecordError, RunRecord


def _seconds_per_question(record: RunRecord) -> float | None:
    """Wall seconds per scored question, memory building included; None when not measurable."""
    n, wall = record.scores.n, record.cost.wall_seconds
    if not n or not record.model.spec:
        return None
    return (wall.get("answer", 0.0) + wall.get("ingest", 0.0)) / n


def measured_times(runs_dir: Path) -> dict[str, dict[str, Any]]:
    """task name -> {runs, median, min, max} seconds per question over the complete records in runs_dir."""
    per_task: dict[str, list[float]] = {}
    for path in sorted(Path(runs_dir).glob("*/run.json")):
        try:
            record = RunRecord.read(path)
        except RecordError:
            continue  # an unreadable record is the leaderboard's business to report, not this summary's
        seconds = _seconds_per_question(record)
        task = record.task.raw.get("name")
        if seconds is not None and task:
            per_task.setdefault(task, []).append(seconds)
    return {task: {"runs": len(xs), "median": round(statistics.median(xs), 2), "min": round(min(xs), 2),
                   "max": round(max(xs), 2)} for task, xs in per_task.items()}


def describe(times: dict[str, Any] | None) -> str:
    """`median 37 s (16–124 s) over 29 runs`, or `not measured`."""
    if not times:
        return "not measured"
    def fmt(x: float) -> str:
        return f"{x:.0f}" if x >= 10 else f"{x:.1f}"
    return (f"median {fmt(times['median'])} s ({fmt(times['min'])}–{fmt(times['max'])} s) over "
            f"{times['runs']} run{'s' if times['runs'] != 1 else ''}")
