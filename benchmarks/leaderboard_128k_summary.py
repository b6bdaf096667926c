"""Time and peak memory per run, from run records: what benchmarks/leaderboard_128k.sh prints after its runs.

    python benchmarks/leaderboard_128k_summary.py [--out FILE] RESULTS_DIR RUN_ID [RUN_ID ...]

Per run: questions answered, accuracy with its 95% interval (the leaderboard's: history × topic clusters
resampled), wall seconds per question (memory building
included: the record's cost.wall_seconds over its questions), the last session's wall time and CPU seconds
(all its processes; model loading included), and the peak resident memory of its largest process (the
record's `resources`). A run without run.json yet is listed
with the questions answered so far.
"""
from __future__ import annotations

import sys
from pathlib import Path


def row(run_dir: Path) -> str:
    """One table line for a run folder."""
    from comam_bench.record import RecordError, RunRecord

    if not (run_dir / "run.json").is_file():
        done = run_dir / "samples.jsonl"
        answered = sum(1 for _ in done.open()) if done.is_file() else 0
        return f"| {run_dir.name} | incomplete: {answered} answered so far | | | | | |"
    try:
        rec = RunRecord.read(run_dir)
    except RecordError as exc:
        return f"| {run_dir.name} | unreadable: {exc} | | | | | |"
    s, wall = rec.scores, rec.cost.wall_seconds
    per_q = (wall.get("ingest", 0.0) + wall.get("answer", 0.0)) / s.n if s.n else None
    lo, hi = interval(rec)
    acc = f"{s.accuracy:.3f} [{lo:.3f}, {hi:.3f}]" if s.accuracy is not None and lo is not None else "–"
    res = rec.resources or {}
    cpu = (res.get("cpu_seconds") or {})
    cpu_total = sum(c for c in [cpu.get("main")] + list(cpu.get("workers") or []) if c is not None) if cpu else None
    cells = [run_dir.name, str(s.n), acc, _fmt(per_q, ".1f"), _fmt(res.get("session_wall_seconds"), ".0f"),
             _fmt(cpu_total, ".0f"), _fmt(rec.peak_rss_mb, ".0f")]
    return "| " + " | ".join(cells) + " |"


def interval(rec) -> tuple[float | None, float | None]:
    """The leaderboard's 95% interval of a run (leaderboard_runs.row_interval): whole history × topic clusters
    resampled where it has enough of them, else the record's own (Wilson over questions)."""
    from comam_bench.leaderboard_runs import _run_entry, row_interval

    return tuple(row_interval([_run_entry(rec)], rec.scores.accuracy or 0.0, rec.scores.n)["ci95"])


def _fmt(value: float | None, spec: str) -> str:
    return "–" if value is None else format(value, spec)


def main(argv: list[str]) -> int:
    out = None
    if len(argv) > 1 and argv[0] == "--out":  # also write the table (with its command) to this file
        out, argv = Path(argv[1]), argv[2:]
    if len(argv) < 2:
        print(__doc__.strip().split("\n\n")[1], file=sys.stderr)
        return 2
    runs = Path(argv[0]) / "runs"
    lines = ["| run | questions | accuracy [95% CI] | wall s / question | session s | session CPU s | peak RSS MiB |",
             "|---|---|---|---|---|---|---|", *(row(runs / run_id) for run_id in argv[1:])]
    print("\n".join(lines))
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        head = ["# The real personamem-128k runs: time and peak memory (generated; do not edit)", "",
                "Produced by: `python benchmarks/leaderboard_128k_summary.py --out FILE RESULTS_DIR RUN_ID...`, "
                "the last step of `bash benchmarks/leaderboard_128k.sh`, over the runs below. Wall and CPU seconds are the last session's, on 2 shared cores; session s includes loading the "
                "models and ingesting both histories.", ""]
        out.write_text("\n".join(head + lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
