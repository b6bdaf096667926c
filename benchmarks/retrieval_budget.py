"""How many tokens the retrieval agent needs to write its evidence: the gold evidence of a recipe's questions
in the policy's own tokens, plus the closing tag the structured format stops at.

    .venv/bin/python benchmarks/retrieval_budget.py --recipe cpu-flagship --out results/training/retrieval-budget.json

The paper-form budget of cpu-smollm2 (32 new tokens) could not hold the two tags (19 tokens) plus the
median evidence; the structured format writes the opening tag for the agent, so the budget needs the
evidence and "</information>" only. The recipe's retrieval_tokens is picked from these percentiles.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics as st
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="cpu-flagship")
    parser.add_argument("--out", default=None, help="write the figures as JSON here too")
    args = parser.parse_args()

    from comam_bench.llm import load_llm
    from comam_bench.training.local import LocalTrainer
    from comam_bench.training.recipe import load_recipe

    recipe = load_recipe(args.recipe)
    trainer = LocalTrainer()
    trainer.r = recipe
    train, val, _ = trainer.load_data()
    llm = load_llm(recipe.model.base)
    counts = sorted(llm.count_tokens("\n".join(ex.evidence) + "</information>") for ex in train + val)
    q = st.quantiles(counts, n=20)
    out = {"recipe": recipe.name, "questions": len(counts), "task": recipe.data.task, "model": recipe.model.base,
           "tokens": {"min": counts[0], "median": st.median(counts), "p90": q[17], "p95": q[18], "max": counts[-1]},
           "retrieval_tokens": recipe.pipeline.get("retrieval_tokens")}
    print(json.dumps(out, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
