"""Peak memory of a run's processes, for the record's `resources` block.

`getrusage(RUSAGE_SELF).ru_maxrss` is the largest resident set a process has had since it started (model
loading included); Linux reports it in kB (KiB), macOS in bytes. It is converted to MiB here. Threads share
their process, so a threaded run has one number; each Ray worker reports its own (RayWorker.facts).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Sequence

SOURCE = ("getrusage(RUSAGE_SELF).ru_maxrss of each process: peak resident set since the process started "
          "(Linux reports kB, converted here to MiB = kB / 1024); of the session that finished the run")


def peak_rss_mb() -> float | None:
    """This process's peak resident set size in MiB; None where getrusage is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, kB on Linux
    return round(peak / per_mb, 1)


def resources_block(session_started: float, workers: Sequence[float | None] | None = None) -> dict[str, Any]:
    """The record's `resources`: peak RSS of this (the main) process and of each worker process, and the wall
    seconds of the session that finished the run (model loading included; a resumed run: its last session)."""
    peaks: dict[str, Any] = {"main": peak_rss_mb()}
    if workers:
        peaks["workers"] = list(workers)
        known = [w for w in workers if w is not None]
        peaks["max_worker"] = max(known) if known else None
    return {"peak_rss_mb": peaks, "session_wall_seconds": round(time.perf_counter() - session_started, 3),
            "source": SOURCE}
