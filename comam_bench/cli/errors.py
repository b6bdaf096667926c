"""One-paragraph errors that say what to do, instead of tracebacks, for the failures users cause."""
from __future__ import annotations

import contextlib
import os
import sys
import threading
import traceback

from rich.console import Console
from rich.markup import escape

from comam_bench.errors import ComamBenchError
from comam_bench.redact import redact

err = Console(stderr=True, highlight=False)
# Threads a run starts around system calls (comam_bench.execution, Run.bounded): after Ctrl-C or a timeout
# one may still be inside a model call that cannot be stopped.
WORKER_THREADS = ("context-worker-", "system-call")


class Terminated(KeyboardInterrupt):
    """SIGTERM (timeout, Slurm, docker stop): stops a run as Ctrl-C does, exit status 143."""


def exit_now(code: int) -> None:
    """sys.exit(code); but while a run's worker thread is still inside a system call, leave at once: a
    daemon thread inside native code (torch) at interpreter shutdown aborts the process ("terminate called
    without an active exception", SIGABRT, exit 134). Every row is already written and fsynced by then."""
    if any(t.is_alive() and t.name.startswith(WORKER_THREADS) for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


@contextlib.contextmanager
def friendly_errors():
    """Print comam-bench's own errors (ComamBenchError, comam_bench/errors.py) as one paragraph and exit 2;
    Ctrl-C exits 130 with a resume hint; anything else is a bug and keeps its traceback (exit 1)."""
    try:
        yield
    except KeyboardInterrupt as exc:
        what = "Stopped (SIGTERM)." if isinstance(exc, Terminated) else "Interrupted."
        err.print(f"\n[bold]{what}[/bold] Every question answered so far is saved in the run's samples.jsonl; "
                  "rerun the same command with --resume to continue. No run record was written.")
        exit_now(143 if isinstance(exc, Terminated) else 130)
    except ComamBenchError as exc:
        # escape: a message like `pip install comam-bench[vllm]` must keep its brackets
        err.print(f"[bold red]error:[/bold red] {escape(redact(str(exc)))}", soft_wrap=True)
        exit_now(2)
    except Exception as exc:  # noqa: BLE001 - a bug: the traceback is for a bug report,
        # but a spec in its message must not leak a secret.
        sys.stderr.write(redact("".join(traceback.format_exception(exc))))
        exit_now(1)
