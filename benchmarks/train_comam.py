"""Time CoMAM RL training steps of a recipe and summarise what they did.

    .venv/bin/python benchmarks/train_comam.py --recipe smoke --steps 3
    .venv/bin/python benchmarks/train_comam.py --recipe cpu-smollm2 --steps 2 --set rollout.group=4

Runs `--steps` steps into a temporary folder (no checkpoints kept, no validation, no final evaluation) and
prints one JSON object: per-step seconds split into rollout / scoring / update, tokens sampled, the batch
mean rewards and credit weights of each step, the share of zero advantages, peak memory (RSS), and the load
average (the machine is shared, so timings depend on what else runs).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

KEYS = ("time/step", "time/rollout", "time/score", "time/update", "tokens/prompt", "tokens/completion",
        "reward/answer", "reward/extraction", "reward/profile", "reward/retrieval", "weight/extraction",
        "weight/profile", "weight/retrieval", "adv/extraction/zero_frac", "adv/profile/zero_frac",
        "adv/retrieval/zero_frac", "judge_unparsed", "groups/ndcg_undefined_frac")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="smoke")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()

    from comam_bench import registry
    from comam_bench.training.base import train_recipe
    from comam_bench.training.metrics import read_rows

    registry.BUILTIN_TRAINERS.setdefault("local", "comam_bench.training.local:LocalTrainer")
    with tempfile.TemporaryDirectory(prefix="train-bench-") as out:
        sets = [f"output_dir={out}", f"train.max_steps={args.steps}", "eval.every=0", "eval.final=false",
                "eval.validation_limit=0", "train.save_every=0", *args.sets]
        start = time.perf_counter()
        result = train_recipe(args.recipe, sets)[0]
        wall = time.perf_counter() - start
        rows = [r for r in read_rows(result.metrics) if r["kind"] == "train"]
    steps = [{k: r[k] for k in KEYS if k in r} for r in rows]
    print(json.dumps({
        "recipe": args.recipe, "sets": args.sets, "steps": len(rows), "wall_seconds": round(wall, 1),
        "mean_step_seconds": round(sum(r["time/step"] for r in rows) / max(len(rows), 1), 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "load_average": os.getloadavg(), "per_step": steps,
    }, indent=1))


if __name__ == "__main__":
    main()
