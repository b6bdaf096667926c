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
- shared+reuse+Nq: both;
- +noletter: training rollouts skip structured retrieval's letter, which no reward of the recipe reads
  (train.skip_unread_letter): the same samples, rewards and updates without a prompt pass per sample.
- +kv: decoding appends to the KV cache in place (comam_bench/llm/hf_cache.py) instead of DynamicCache's
  torch.cat, which copies every layer's cache at every step: the same tokens and logits. It is the hf
  backend's default; every configuration without +kv (baseline too) turns it off, as before it existed.
Any combination runs by name (--configs, config_sets below).
CPU time is this process's (time.process_time: with one thread, what the work cost whatever else the
machine ran); wall time is reported beside it. "Equal results": baseline and shared sample from the same
seed on the same questions, so their sampled tokens and rewards should agree (the shared prefill and the
reused states change float rounding only; the share of samples whose sampled token ids equal baseline's is
reported per configuration of one question per step); shared+Nq batches questions together, which
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
    from comam_bench.training.update import grpo_step

    r = load_recipe(recipe_name, ["output_dir=my-results/training/rollout-throughput", *sets])
    t = LocalTrainer()
    t.prepare(r)
    t.state = {"global_step": 0, "phase_steps": {}}
    for base in t.policies.bases.values():
        base.base.share_prefill = name != "baseline"
        base.base.growing_cache = "kv" in name.split("+")  # the hf backend's default; off to compare
    per_step = r.train.batch_questions * r.rollout.group
    steps = max(trajectories // per_step, 1)
    rows, texts, updates = [], [], []  # updates: each step's losses and gradient norms (equal results)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for step in range(steps):
        seed = r.seed * 1_000_003 + step * 101
        with P.reusing_states(t.policies, r.train.reuse_rollout_states):
            groups = t.training_rollout(t.batch(0, step), seed)
            t.scorer.score(groups, list(AGENTS))
            stats = grpo_step(t.agent_batches(groups, list(AGENTS)), t.policies.optimizers, r.train,
                              r.rollout.temperature)
        updates.append({k: round(v, 6) for k, v in stats.items() if k.startswith(("loss/", "grad_norm/"))})
        rows += [{"answer": g.answer, **{a: g.local[a] for a in AGENTS}} for g in groups]
        texts += [[s.completion_ids for s in tr.steps] for g in groups for tr in g.trajectories]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    done = steps * per_step
    out = {"config": name, "sets": sets, "steps": steps, "trajectories": done, "cpu_seconds": round(cpu, 1),
           "wall_seconds": round(wall, 1), "trajectories_per_cpu_second": round(done / cpu, 4),
           "rewards": {k: round(st.mean(v for row in rows for v in row[k]), 4) for k in ("answer", *AGENTS)},
           "updates": updates, "texts": texts}
    del t
    gc.collect()
    return out


def config_sets(name: str, recipe_name: str) -> list[str]:
    """The recipe --sets a configuration's name spells: "baseline", or "shared" followed by any of +reuse,
    +Nq (N questions per step), +batch (their N x G rows in one decoding batch) and +noletter
    (train.skip_unread_letter) and +kv (decoding on the in-place KV cache, llm/hf_cache.py: the hf backend's
    default, off in every configuration without it), e.g. "shared+reuse+4q+batch+noletter+kv"."""
    from comam_bench.training.recipe import load_recipe

    parts = name.split("+")
    if name == "baseline":
        return ["train.share_prompt=false", "train.batch_questions=1"]
    if parts[0] != "shared":
        raise ValueError(f"configuration {name!r}: start with 'shared' or use 'baseline'")
    n = 1
    sets = ["train.share_prompt=true"]
    for part in parts[1:]:
        if part == "reuse":
            sets.append("train.reuse_rollout_states=true")
        elif part == "noletter":
            sets.append("train.skip_unread_letter=true")
        elif part.endswith("q") and part[:-1].isdigit() and int(part[:-1]) > 0:
            n = int(part[:-1])
        elif part not in ("batch", "kv"):  # kv: a backend switch, set in run_config
            raise ValueError(f"configuration {name!r}: unknown part {part!r} (reuse, Nq, batch, noletter, kv)")
    sets.insert(1, f"train.batch_questions={n}")
    if "batch" in parts[1:]:  # the hf backend decodes batch_size rows at a time (8 by default)
        r = load_recipe(recipe_name, [])
        sets.append(f"model.base={json.dumps(f'{r.model.base},batch_size={n * r.rollout.group}')}")
    return sets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipe", default="cpu-flagship")
    p.add_argument("--trajectories", type=int, default=16, help="trajectories per configuration (whole steps)")
    p.add_argument("--questions-per-step", type=int, default=2, help="N of the default +Nq configurations")
    p.add_argument("--out", default="my-results/training/rollout-throughput.json")
    p.add_argument("--configs", default=None,
                   help="comma-separated configurations by name (config_sets: e.g. shared+reuse+4q+batch+noletter); "
                        "baseline always runs first")
    args = p.parse_args()
    n = args.questions_per_step
    names = ["shared", f"shared+{n}q", "shared+reuse", f"shared+reuse+{n}q", f"shared+reuse+{n}q+batch"]
    if args.configs:
        names = [c for c in args.configs.split(",") if c and c != "baseline"]
    try:
        configs = [(name, config_sets(name, args.recipe)) for name in ["baseline", *names]]
    except ValueError as exc:
        p.error(str(exc))
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
