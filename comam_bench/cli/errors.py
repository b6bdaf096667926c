"""One-paragraph errors that say what to do, instead of tracebacks, for the failures users cause."""
from __future__ import annotations

import contextlib
import sys
import traceback

from rich.console import Console
from rich.markup import escape

from comam_bench.redact import redact

err = Console(stderr=True, highlight=False)


def _known_errors() -> tuple[type[BaseException], ...]:
    from comam_bench.registry import RegistryError
    from comam_bench.runner import RunError

    from comam_bench.results import RunLockedError
    from comam_bench.run_checks import OptionError

    kinds: list[type[BaseException]] = [RegistryError, RunError, RunLockedError, OptionError]
    with contextlib.suppress(ImportError):
        from comam_bench.data.personamem import DataError
        kinds.append(DataError)
    with contextlib.suppress(ImportError):
        from comam_bench.llm import BackendError, ModelLoadError
        kinds += [BackendError, ModelLoadError]
    with contextlib.suppress(ImportError):
        from comam_bench.comam.checkpoint import CheckpointError
        kinds.append(CheckpointError)
    return tuple(kinds)


@contextlib.contextmanager
def friendly_errors():
    """Print known errors as one paragraph and exit 2; Ctrl-C exits 130 with a resume hint."""
    try:
        yield
    except KeyboardInterrupt:
        err.print("\n[bold]Interrupted.[/bold] Every question answered so far is saved in the run's samples.jsonl; "
                  "rerun the same command with --resume to continue. No run record was written.")
        sys.exit(130)
    except Exception as exc:  # noqa: BLE001 - filtered just below
        if not isinstance(exc, _known_errors()):
            # A bug: the traceback is for a bug report, but a spec in its message must not leak a secret.
            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
            sys.exit(1)
        # escape: a message like `pip install comam-bench[vllm]` must keep its brackets
        err.print(f"[bold red]error:[/bold red] {escape(redact(str(exc)))}", soft_wrap=True)
        sys.exit(2)
