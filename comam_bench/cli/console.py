"""The CLI's consoles: rich on a terminal; unwrapped when the output is piped or captured.

Rich assumes 80 columns when it is not writing to a terminal, so a table piped into `less` or a file came
out cut (`syst…`, `accu…`) and wrapped into hundreds of lines. Off a terminal nothing is anyone's screen
width: tables take their natural width and lines are not wrapped (COLUMNS, if set, still wins).
"""
from __future__ import annotations

import os

from rich.console import Console

PIPE_WIDTH = 1000  # wider than any table the CLI prints; rich tables do not stretch to fill it


def console(stderr: bool = False) -> Console:
    """A Console for stdout (or stderr) that does not cut tables when piped."""
    con = Console(stderr=stderr, highlight=False)
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con.width = PIPE_WIDTH
    return con
