"""Training throughput on CPU, side by side in one process: trajectories per CPU-second of whole training
steps (rollout, scoring, update) with and without the three savings of issue 25 part 5.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rollout_throughput.py --recipe cpu-flagship --trajectories 16 \\
        --out results/training/rollout-throughput.json

Configurations, each from fresh (untrained) adapters on the same training questions and sampling seed:
- baseline: every sample prefills its own prompt, every update sequence runs its own prompt, one question
  per step (what the recipes did before);
- shared: a group's G samples prefill their one prompt once (hf share_prefill) and the update runs a
  shared prompt once for all its samples (train.share_prompt);
- shared+Nq: the same with N questions per step (train.batch_questions), so every decoding step runs N x G rows
  (in batches of the hf backend's batch_size, 8 by default; shared+reuse+Nq+batch makes it N x G);
- shared+reuse: shared, and the update runs only the LoRA-adapted top layers on the hidden states the
  rollout computed below them (train.reuse_rollout_states, comam_bench/training/boundary.py);
- shared+reuse+Nq: both.
CPU time is this process's (time.process_time: with one thread, what the work cost whatever else the
machine ran); wall time is reported beside it. "Equal results": baseline and shared sample from the same
seed on the same questions, so their texts and rewards should agree (the shared prefill and the reused
states change float rounding only; the share of samples identical to baseline's is reported per
configuration of one question per step); shared+Nq batches questions together, which
changes how the sampler's random draws fall, so its rewards are compared as means.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import statistics as st
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comam_bench.comam.agents import AGENTS  # noqa: E402


def run_config(name: str, recipe_name: str, sets: list[str], trajectories: int) -> dict:
    """Train steps of one configuration until `trajectories` were rolled out; CPU and wall time of them."""
    from comam_bench.training import policies as P
    from comam_bench.training.local import LocalTrainer
    from comam_bench.training.recipe import load_recipe
    from comam_bench.comam.training.rollout import rollout
    from comam_bench.training.update import grpo_step

    r = load_recipe(recipe_name, ["output_dir=my-results/training/rollout-throughput", *sets])
    t = LocalTrainer()
    t.prepare(r)
    t.state = {"global_step": 0, "phase_steps": {}}
    for base in t.policies.bases.values():
        base.base.share_prefill = name != "baseline"
    per_step = r.train.batch_questions * r.rollout.group
    steps = max(trajectories // per_step, 1)
    rows, texts, updates = [], [], []  # updates: each step's losses and gradient norms (equal results)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for step in range(steps):
        seed = r.seed * 1_000_003 + step * 101
        with P.reusing_states(t.policies, r.train.reuse_rollout_states):
            groups = rollout(t.pipeline, t.batch(0, step), r.rollout.group, r.rollout.temperature, seed)
            t.scorer.score(groups, list(AGENTS))
            stats = grpo_step(t.agent_batches(groups, list(AGENTS)), t.policies.optimizers, r.train,
                              r.rollout.temperature)
        updates.append({k: round(v, 6) for k, v in stats.items() if k.startswith(("loss/", "grad_norm/"))})
        rows += [{"answer": g.answer, **{a: g.local[a] for a in AGENTS}} for g in groups]
        texts += [[s.text for s in tr.steps] for g in groups for tr in g.trajectories]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    done = steps * per_step
    out = {"config": name, "sets": sets, "steps": steps, "trajectories": done, "cpu_seconds": round(cpu, 1),
           "wall_seconds": round(wall, 1), "trajectories_per_cpu_second": round(done / cpu, 4),
           "rewards": {k: round(st.mean(v for row in rows for v in row[k]), 4) for k in ("answer", *AGENTS)},
           "updates": updates, "texts": texts}
    del t
    gc.collect()
    return out


def _one_batch(recipe_name: str, n: int) -> str:
    """The --set that makes the recipe's base model decode all n x G rows of a step in one batch."""
    from comam_bench.training.recipe import load_recipe

    r = load_recipe(recipe_name, [])
    return f"model.base={json.dumps(f'{r.model.base},batch_size={n * r.rollout.group}')}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="cpu-flagship")
    p.add_argument("--trajectories", type=int, default=16, help="trajectories per configuration (whole steps)")
    p.add_argument("--questions-per-step", type=int, default=2, help="N of the shared+Nq configuration")
    p.add_argument("--out", default="my-results/training/rollout-throughput.json")
    p.add_argument("--configs", default=None,
                   help="comma-separated subset of the configurations (baseline always runs first)")
    args = p.parse_args()
    n = args.questions_per_step
    one, many, reuse = "train.batch_questions=1", f"train.batch_questions={n}", "train.reuse_rollout_states=true"
    configs = [("baseline", ["train.share_prompt=false", one]),
               ("shared", ["train.share_prompt=true", one]),
               (f"shared+{n}q", ["train.share_prompt=true", many]),
               ("shared+reuse", ["train.share_prompt=true", one, reuse]),
               (f"shared+reuse+{n}q", ["train.share_prompt=true", many, reuse]),
               # the hf backend decodes batch_size rows at a time (8 by default): N questions x G samples
               # in one decoding batch rather than N
               (f"shared+reuse+{n}q+batch", ["train.share_prompt=true", many, reuse, _one_batch(args.recipe, n)])]
    if args.configs:
        wanted = {"baseline", *args.configs.split(",")}
        unknown = wanted - {name for name, _ in configs}
        if unknown:
            p.error(f"unknown configuration(s) {sorted(unknown)}; choose from {[name for name, _ in configs]}")
        configs = [c for c in configs if c[0] in wanted]
    results = []
    for name, sets in configs:
        results.append(run_config(name, args.recipe, sets, args.trajectories))
        res = results[-1]
        print(f"{name}: {res['trajectories']} trajectories, {res['cpu_seconds']} CPU s "
              f"({res['trajectories_per_cpu_second']} per CPU-second), rewards {res['rewards']}", flush=True)
    base = results[0]
    same = {}
    for res in results[1:]:
        if "train.batch_questions=1" in res["sets"]:  # several questions per step draw differently
            pairs = [a == b for a, b in zip(base["texts"], res["texts"])]
            same[res["config"]] = f"{sum(pairs)}/{len(pairs)}"
    summary = {"recipe": args.recipe, "threads": os.environ.get("OMP_NUM_THREADS"),
               "identical_samples_vs_baseline": same,
               "speedup_vs_baseline": {r["config"]: round(r["trajectories_per_cpu_second"] /
                                                          base["trajectories_per_cpu_second"], 3) for r in results},
               "configs": [{k: v for k, v in r.items() if k != "texts"} for r in results]}
    print(json.dumps({k: v for k, v in summary.items() if k != "configs"}, indent=1))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
