"""How many CPU threads torch gives one model call: chosen once per process, before the first model loads.

torch runs each matrix product on as many OpenMP threads as the machine has cores, and the threads wait for
one another at the end of every product. When other jobs hold the cores, the thread that is waited for is
often not running, and the waiting one spins. Measured on this project's 2-core machine at load average 8
(`comam-bench run --system no-memory --task personamem-mini`): with 2 threads, 3 questions took 30 minutes
and 306 CPU seconds; with 1 thread, 6 questions took 4 minutes and 39 CPU seconds, with the same replies.
So a busy machine gets one thread per process. An explicit choice always wins: COMAM_BENCH_THREADS, or
OMP_NUM_THREADS (which torch reads itself).
"""
from __future__ import annotations

import logging
import math
import os

from comam_bench.errors import ModelLoadError

log = logging.getLogger(__name__)
ENV = "COMAM_BENCH_THREADS"
IDLE_LOAD = 0.5  # load average still counted as an idle core (a shell, a short-lived process)
_chosen: int | None = None


def choose_threads(cores: int, load: float) -> int:
    """Threads for a machine with `cores` cores at 1-minute load average `load`: one per core that is idle,
    at least one. 2 cores at load 0.3 -> 2; at 0.6 -> 1; 16 cores at load 3.2 -> 13."""
    busy = math.ceil(max(0.0, load - IDLE_LOAD))
    return max(1, min(cores, cores - busy))


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def configure_threads() -> int | None:
    """Set torch's intra-op threads for this process (the first call decides; later ones return it).
    None when OMP_NUM_THREADS decides."""
    global _chosen
    if _chosen is not None:
        return _chosen
    import torch

    explicit = os.environ.get(ENV, "").strip()
    if explicit:
        if not explicit.isdigit() or int(explicit) < 1:
            raise ModelLoadError(f"{ENV}={explicit!r}: give a whole number of threads, 1 or more "
                                 f"(or unset it to let comam-bench choose from the machine's load)")
        _chosen = int(explicit)
    elif os.environ.get("OMP_NUM_THREADS", "").strip():
        return None
    else:
        cores, load = _cores(), os.getloadavg()[0]
        _chosen = choose_threads(cores, load)
        if _chosen < cores:
            log.warning("the machine is busy (load average %.1f on %d cores): the model uses %d thread%s; "
                        "set %s to choose", load, cores, _chosen, "" if _chosen == 1 else "s", ENV)
    torch.set_num_threads(_chosen)
    return _chosen
