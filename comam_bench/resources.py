"""Peak memory and CPU time of a run's processes, for the record's `resources` block.

`getrusage(RUSAGE_SELF).ru_maxrss` is the largest resident set a process has had since it started (model
loading included); Linux reports it in kB (KiB), macOS in bytes. It is converted to MiB here. Threads share
their process, so a threaded run has one number; each Ray worker reports its own (RayWorker.facts).
"""
from __future__ import annotations

import sys
import time
from typing import Any, Sequence

SOURCE = ("getrusage(RUSAGE_SELF) of each process since it started, in the session that finished the run: "
          "peak_rss_mb = ru_maxrss (Linux reports kB, converted here to MiB = kB / 1024); "
          "cpu_seconds = ru_utime + ru_stime (all threads)")


def peak_rss_mb() -> float | None:
    """This process's peak resident set size in MiB; None where getrusage is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    per_mb = 1024 * 1024 if sys.platform == "darwin" else 1024  # bytes on macOS, kB on Linux
    return round(peak / per_mb, 1)


def cpu_seconds() -> float | None:
    """CPU seconds (user + system, all threads) this process has used since it started; None without getrusage.
    Unlike wall time it does not grow when other work shares the cores."""
    try:
        import resource
    except ImportError:
        return None
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return round(usage.ru_utime + usage.ru_stime, 3)


def resources_block(session_started: float, workers: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The record's `resources`: peak RSS and CPU seconds of this (the main) process and of each worker
    process (`workers`: what each reported, {"peak_rss_mb", "cpu_seconds"}), and the wall seconds of the
    session that finished the run (model loading included; a resumed run: its last session)."""
    peaks: dict[str, Any] = {"main": peak_rss_mb()}
    cpu: dict[str, Any] = {"main": cpu_seconds()}
    if workers:
        peaks["workers"] = [w.get("peak_rss_mb") for w in workers]
        known = [p for p in peaks["workers"] if p is not None]
        peaks["max_worker"] = max(known) if known else None
        cpu["workers"] = [w.get("cpu_seconds") for w in workers]
    return {"peak_rss_mb": peaks, "cpu_seconds": cpu,
            "session_wall_seconds": round(time.perf_counter() - session_started, 3), "source": SOURCE}


def process_usage() -> dict[str, Any]:
    """What a worker process reports of itself for the record (see resources_block)."""
    return {"peak_rss_mb": peak_rss_mb(), "cpu_seconds": cpu_seconds()}
