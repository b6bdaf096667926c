"""The `comam-bench` command: thin click commands; the work happens in the library."""
from __future__ import annotations

import signal
import sys

import click

from comam_bench.cli.errors import Terminated, exit_now, friendly_errors
from comam_bench.cli.data import data
from comam_bench.cli.export import export
from comam_bench.cli.listing import systems, tasks
from comam_bench.cli.run import leaderboard, run
from comam_bench.cli.train import train
from comam_bench.cli.view import view


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="comam-bench")
def cli() -> None:
    """Benchmark personalized LLM memory systems on PersonaMem; train CoMAM."""


for command in (tasks, systems, run, leaderboard, data, train, view, export):
    cli.add_command(command)


def main() -> None:
    """Entry point: click's own errors as click prints them; ours (and Ctrl-C) as one paragraph."""
    signal.signal(signal.SIGTERM, _terminated)  # `timeout`, Slurm, `docker stop`: stop as Ctrl-C does
    with friendly_errors():
        try:
            code = cli.main(standalone_mode=False)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort as exc:
            # click turns Ctrl-C (and our SIGTERM) into Abort; report it like the interrupt it was
            cause = exc.__cause__ or exc.__context__
            raise (cause if isinstance(cause, KeyboardInterrupt) else KeyboardInterrupt()) from None
    exit_now(code if isinstance(code, int) else 0)


def _terminated(signum, frame) -> None:
    raise Terminated


if __name__ == "__main__":
    main()
