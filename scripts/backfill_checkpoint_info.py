#!/usr/bin/env python3
"""Record which trained checkpoint a CoMAM run evaluated, in run records written before runs recorded it.

    python scripts/backfill_checkpoint_info.py            # the project's results/ (the committed records)
    python scripts/backfill_checkpoint_info.py DIR        # another results folder
    python scripts/backfill_checkpoint_info.py --check    # exit 1 if a record would change

A run of `--system comam --system-arg checkpoint=DIR` now records the trainer's notes on the checkpoint
(recipe, mode, global step: `system.config.checkpoint_info`), and the leaderboard names the row by them
(comam_bench.leaderboard_runs.system_name). Older records lack them, and their checkpoints are not
committed; the training folder that wrote each checkpoint is (`DIR/..`: process.json names the recipe and
mode, metrics.jsonl logs every training step). The checkpoint is the one saved when training ended, so its
step is the last training step logged. Only run.json files change, and only system.config: specs, spec
hashes and run ids stay as they are; a record whose training folder is absent is left unchanged.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from comam_bench.registry import project_root  # noqa: E402
from comam_bench.results import records_script_args, write_json_atomic  # noqa: E402

SOURCE = "training folder: process.json (recipe, mode), metrics.jsonl (last training step)"


def training_info(folder: Path) -> dict | None:
    """{recipe, mode, global_step, source} from a training folder; None when it lacks what is needed."""
    process, metrics = folder / "process.json", folder / "metrics.jsonl"
    if not process.is_file() or not metrics.is_file():
        return None
    done = json.loads(process.read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in metrics.read_text(encoding="utf-8").splitlines() if line.strip()]
    steps = [r["global_step"] for r in rows if r.get("kind") == "train" and isinstance(r.get("global_step"), int)]
    if done.get("exit_status") != 0 or not steps:  # an unfinished training run saved no final checkpoint
        return None
    return {"recipe": done.get("recipe"), "mode": done.get("mode"), "global_step": max(steps), "source": SOURCE}


def backfilled(record: dict, root: Path) -> dict | None:
    """The record with system.config.checkpoint_info filled in; None when it has it, needs none or cannot."""
    config = (record.get("system") or {}).get("config")
    if not isinstance(config, dict) or not config.get("checkpoint") or config.get("checkpoint_info"):
        return None
    folder = Path(config["checkpoint"])
    info = training_info((folder if folder.is_absolute() else root / folder).parent)
    if info is None:
        return None
    system = {**record["system"], "config": {**config, "checkpoint_info": info}}
    return {**record, "system": system}


def main(argv: list[str] | None = None) -> int:
    args, runs = records_script_args(__doc__.split("\n\n")[0], argv)
    if runs is None:
        return 2
    changed = 0
    for path in sorted(runs.glob("*/run.json")):
        record = backfilled(json.loads(path.read_text(encoding="utf-8")), project_root())
        if record is None:
            continue
        changed += 1
        info = record["system"]["config"]["checkpoint_info"]
        print(f"{'would fill' if args.check else 'filled'} {path}: {info['recipe']} ({info['mode']}), "
              f"step {info['global_step']}")
        if not args.check:
            write_json_atomic(path, record)
    print(f"{changed} record(s) {'to fill' if args.check else 'filled'}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
