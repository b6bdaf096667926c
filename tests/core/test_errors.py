"""One error root: every exception class of comam_bench derives from ComamBenchError, so the CLI catches it once."""
from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

import comam_bench
from comam_bench.errors import ComamBenchError, RunError

PACKAGE = Path(comam_bench.__file__).resolve().parent
# Not errors a user causes, so not under the root (the CLI must not print them as one paragraph):
NOT_UNDER_THE_ROOT = {
    "comam_bench.cli.errors.Terminated",  # SIGTERM, a KeyboardInterrupt: exit 143 like Ctrl-C
    "comam_bench.execution._Stopped",  # a worker thread's stop signal, caught in execution.py
    "comam_bench.worker.CallTimedOut",  # call_within's signal; the worker raises QuestionTimeout for it
}


def _exception_classes() -> list[type]:
    """Every class defined in the package that is an exception, found from the source (ast) and imported."""
    classes = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = [n.name for n in tree.body if isinstance(n, ast.ClassDef) and n.bases]
        if not defined:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            mod = importlib.import_module(module)
        except ImportError as exc:  # an optional dependency (CI installs every extra, so this is rare)
            pytest.fail(f"{module} does not import ({exc}): install the extras (scripts/setup.sh)")
        classes += [c for name in defined if isinstance(c := getattr(mod, name), type) and issubclass(c, BaseException)]
    return classes


def test_every_exception_class_derives_from_the_root():
    classes = _exception_classes()
    names = {f"{c.__module__}.{c.__qualname__}" for c in classes}
    assert len(classes) >= 20 and "comam_bench.registry.RegistryError" in names  # the search found them
    outside = sorted(n for n in names - NOT_UNDER_THE_ROOT
                     if not issubclass(next(c for c in classes if f"{c.__module__}.{c.__qualname__}" == n),
                                       ComamBenchError))
    assert not outside, f"derive these from comam_bench.errors.ComamBenchError: {outside}"
    assert NOT_UNDER_THE_ROOT <= names, "a listed exception is gone: take it off NOT_UNDER_THE_ROOT"


def test_old_bases_are_kept_for_callers_that_catch_them():
    from comam_bench.args import ArgumentError
    from comam_bench.llm.defaults import EmbeddedModelMissing
    from comam_bench.protocols import ProtocolError
    from comam_bench.registry import RegistryError

    assert issubclass(RegistryError, LookupError) and issubclass(ArgumentError, (TypeError, ValueError))
    assert issubclass(EmbeddedModelMissing, FileNotFoundError) and issubclass(ProtocolError, ValueError)


def test_run_error_keeps_its_old_import_path():
    from comam_bench.runner import QuestionTimeout, RunError as FromRunner

    assert FromRunner is RunError and issubclass(QuestionTimeout, RunError)


def test_the_cli_prints_any_error_under_the_root_as_one_paragraph_with_exit_2(tmp_path):
    # LikelihoodError was not among the CLI's caught errors before the root: any subclass now is.
    script = ("import sys; from comam_bench.cli.errors import friendly_errors\n"
              "from comam_bench.likelihood import LikelihoodError\n"
              "with friendly_errors():\n    raise LikelihoodError('the model gives no log-likelihoods: use hf:')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert "error: the model gives no log-likelihoods: use hf:" in done.stderr and "Traceback" not in done.stderr


def test_the_cli_keeps_the_traceback_of_a_bug():
    script = ("from comam_bench.cli.errors import friendly_errors\n"
              "with friendly_errors():\n    raise ZeroDivisionError('a bug')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" in done.stderr and "ZeroDivisionError: a bug" in done.stderr
