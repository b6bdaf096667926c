"""Rollout temperature against the signal it gives: G samples per training question at several temperatures.

    .venv/bin/python benchmarks/rollout_temperature.py --temperatures 0 0.3 0.6 1.0 --questions 4 \\
        --out results/training/rollout-temperature.json

GRPO learns from the spread of rewards inside a group and changes the policy it samples from, while the
validation (and `comam-bench run`) decode greedily. With a 135M model, samples at temperature 1.0 can be
far worse than the greedy output, so the groups rank samples unlike anything the evaluated policy
writes. This script measures, with the untrained policies of a recipe (default cpu-smollm2), each
agent's mean local reward, its spread within groups (mean population standard deviation) and the share of
groups with any spread, for every temperature, on the same training questions and sampling seed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics as st
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comam_bench.comam.agents import AGENTS  # noqa: E402


def prepare(recipe_name: str, sets: list[str]):
    """The recipe and its untrained pipeline and scorer (LocalTrainer.prepare, as training starts)."""
    from comam_bench.training.local import LocalTrainer
    from comam_bench.training.recipe import load_recipe

    r = load_recipe(recipe_name, ["output_dir=my-results/training/rollout-temperature", *sets])
    t = LocalTrainer()
    t.prepare(r)
    return r, t


def measure(trainer, examples, group: int, temperature: float, seed: int) -> dict:
    from comam_bench.comam.training.rollout import rollout

    t0 = time.perf_counter()
    groups = rollout(trainer.pipeline, examples, group, temperature, seed)
    trainer.scorer.score(groups, list(AGENTS))
    row: dict = {"temperature": temperature, "seconds": round(time.perf_counter() - t0, 1)}
    for agent in AGENTS:
        rewards = [g.local[agent] for g in groups]
        row[agent] = {"mean": st.mean(r for rs in rewards for r in rs),
                      "within_group_sd": st.mean(st.pstdev(rs) for rs in rewards),
                      "groups_with_spread": sum(max(rs) > min(rs) for rs in rewards) / len(rewards),
                      "per_question_mean": [st.mean(rs) for rs in rewards]}
    row["answer"] = {"mean": st.mean(a for g in groups for a in g.answer)}
    row["extraction_samples"] = [g.trajectories[0].step("extraction").text[:160] for g in groups]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="cpu-smollm2")
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.0, 0.3, 0.6, 1.0])
    p.add_argument("--questions", type=int, default=4, help="training questions (the first of the split)")
    p.add_argument("--seed", type=int, default=7, help="sampling seed, the same for every temperature")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--out", default="my-results/training/rollout-temperature.json")
    args = p.parse_args()
    recipe, trainer = prepare(args.recipe, args.sets)
    examples = trainer.train_set[:args.questions]
    rows = []
    for temperature in args.temperatures:
        rows.append(measure(trainer, examples, recipe.rollout.group, temperature, args.seed))
        e = rows[-1]["extraction"]
        print(f"T={temperature}: extraction mean {e['mean']:.3f}, within-group sd {e['within_group_sd']:.3f}, "
              f"groups with spread {e['groups_with_spread']:.2f} ({rows[-1]['seconds']} s)", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"recipe": recipe.name, "group": recipe.rollout.group, "seed": args.seed,
                               "questions": [ex.question.id for ex in examples], "sets": args.sets,
                               "threads": os.environ.get("OMP_NUM_THREADS"), "rows": rows}, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
