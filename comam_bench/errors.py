"""Errors a run raises to say what to do; the CLI turns them into a sentence and exit 2 (cli/errors.py).

Its own module so that the runner, the executors and the Ray workers all import it at module level without
importing each other."""
from __future__ import annotations


class RunError(Exception):
    """A run cannot start or go on; the message says what to do."""
