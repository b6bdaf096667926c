#!/usr/bin/env python3
"""Rewrite committed records so they name no absolute path of the machine they ran on (issue 30, D13).

    python scripts/migrate_portable_paths.py --from-root /work/main           # rewrite results/
    python scripts/migrate_portable_paths.py --from-root /work/main --check   # exit 1 if anything would change
    python scripts/migrate_portable_paths.py --from-root /work/lb --outside /work/shared   # ../shared/...

Every text file under the results folder (run.json, spec.json, samples, training logs, benchmark JSON) gets
the paths the writers now record (comam_bench.portable): under a project root (`--from-root`, repeatable;
this project's root always counts) relative to it, under site-packages `<site-packages>/...`, under the
home folder `~/...`. A run whose spec changed gets its spec_hash recomputed from the new spec (in run.json
and spec.json), so the hash stays the sha256 of the stored spec, as a new run of the same spec records it.
Run `comam-bench leaderboard` afterwards: its outputs are built from the records.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comam_bench.portable import _START, portable  # noqa: E402  (_START: where an absolute path may begin)
from comam_bench.registry import project_root  # noqa: E402
from comam_bench.results import spec_hash  # noqa: E402

SUFFIXES = (".json", ".jsonl", ".log", ".md", ".txt", ".csv")


def _read(path: Path) -> str:
    """The file's text with its line ends untouched (a log's \r progress lines stay \r)."""
    with open(path, encoding="utf-8", newline="") as fh:
        return fh.read()


def relative_outside(text: str, outside: list[str], start: str) -> str:
    """`text` with each absolute path under a folder of `outside` (beside the project, such as the shared
    data) written relative to `start`, the folder the runs were started from: as if it had been typed so."""
    for folder in sorted((str(Path(o)).rstrip("/") for o in outside), key=len, reverse=True):
        rel = Path(os.path.relpath(folder, start)).as_posix()
        text = re.sub(_START + re.escape(folder) + r"(?=/|[\s\"',;]|$)", lambda m: rel, text)
    return text


def migrate_text(folder: Path, roots: list[str], outside: list[str] = ()) -> dict[Path, str]:
    """path -> new text, for every file whose text changes."""
    changed = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in SUFFIXES:
            text = _read(path)
            new = portable(relative_outside(text, list(outside), roots[0]), roots)
            if new != text:
                changed[path] = new
    return changed


def rehash_runs(changed: dict[Path, str]) -> None:
    """For each run folder whose spec changed: the new spec's hash replaces the old one in its files."""
    for folder in sorted({p.parent for p in changed if p.name in ("spec.json", "run.json")}):
        name = "spec.json" if (folder / "spec.json").is_file() else "run.json"
        before = json.loads(_read(folder / name))
        after = json.loads(changed.get(folder / name) or _read(folder / name))
        if before["spec"] == after["spec"]:
            continue  # only the record's other parts named a path (the data cache): the hash stands
        old, new = before["spec_hash"], spec_hash(after["spec"])
        for path in (folder / "spec.json", folder / "run.json"):
            if path.is_file():
                changed[path] = (changed.get(path) or _read(path)).replace(old, new)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results-dir", default=str(project_root() / "results"))
    parser.add_argument("--from-root", action="append", default=[], metavar="DIR",
                        help="a project folder the records were written from (repeatable)")
    parser.add_argument("--outside", action="append", default=[], metavar="DIR",
                        help="a folder beside the project that records name by an absolute path (the shared "
                             "data): written relative to the first --from-root, as if typed so (repeatable)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file would change")
    args = parser.parse_args()
    roots = [*args.from_root, str(project_root())]
    changed = migrate_text(Path(args.results_dir), roots, args.outside)
    rehash_runs(changed)
    for path in changed:
        print(f"{'would rewrite' if args.check else 'rewrote'} {path}")
        if not args.check:
            with open(path, "w", encoding="utf-8", newline="") as fh:  # line ends (tqdm's \r) kept as they are
                fh.write(changed[path])
    print(f"{len(changed)} file(s) {'to migrate' if args.check else 'migrated'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
