#!/usr/bin/env python3
"""Print a command from README.md's "On a fresh machine" section, so CI runs exactly what a newcomer reads.

    python3 scripts/readme_command.py          # the first command (set up, then the main run)
    python3 scripts/readme_command.py 2        # the second (set up and pass the tests)

Standard library only: it runs before any virtual environment exists.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

SECTION = "## On a fresh machine"


def fresh_machine_commands(readme: str) -> list[str]:
    """The fenced code blocks of the section, in order, each as one command line."""
    start = readme.index(SECTION)
    end = readme.find("\n## ", start + len(SECTION))
    section = readme[start:end if end != -1 else None]
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", section, flags=re.S | re.M)
    # A line ending in a backslash continues on the next one.
    return [" ".join(line.strip().rstrip("\\").strip() for line in b.strip().splitlines()) for b in blocks]


def main() -> None:
    which = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    print(fresh_machine_commands(readme)[which - 1])


if __name__ == "__main__":
    main()
