"""The root of every error comam-bench raises on purpose, and the errors that many modules share.

Every exception class of the package derives from ComamBenchError (tests/core/test_errors.py checks it), so
the CLI catches that one class and prints its message as one paragraph with exit status 2
(comam_bench/cli/errors.py); anything else that escapes is a bug and keeps its traceback. Classes keep their
older bases too (ValueError, LookupError, FileNotFoundError ...), so callers that catch those still work.

This module imports nothing of the package: any module can raise these without an import cycle.
"""
from __future__ import annotations


class ComamBenchError(Exception):
    """An error whose message says what went wrong and what to do about it (not a bug)."""


class RunError(ComamBenchError):
    """A run cannot start or go on; the message says what to do."""


class ModelLoadError(ComamBenchError):
    """A model that cannot be loaded; the message names the spec and what to do about it."""


class ModelSpecError(ModelLoadError, ValueError):
    """A spec that does not parse, names an unknown backend, or carries an unknown option."""


class BackendError(ComamBenchError):
    """A backend that fails at run time (server down, garbage answers after retries)."""
