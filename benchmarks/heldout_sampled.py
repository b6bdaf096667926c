"""Held-out rewards of trained checkpoints under sampling, paired with the untrained policies.

    .venv/bin/python benchmarks/heldout_sampled.py --out results/training/cpu-t03 --modes joint independent \\
        --seeds 0 1 2 --samples 8

The training validation decodes greedily (one trajectory per question, like `comam-bench run`). GRPO,
though, optimises the policy it samples from. This script measures that policy on the held-out questions:
for every seed, the untrained policies (the joint recipe with fresh adapters, which start as the base
model) and every mode's final checkpoint each sample G trajectories per held-out question at the
run's rollout temperature, with the same sampling seed (common random numbers, so the paired difference
is the checkpoint's, not the dice's). A question's value is the mean over its G samples; the change is
checkpoint minus untrained on the same (seed, question), pooled over seeds, with a 95% t interval.
`--temperature 0 --samples 1` reproduces the greedy validation.

Writes OUT/heldout_sampled.json (every question's values) and OUT/heldout_sampled.md.
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

KEYS = ("accuracy", *(f"reward/{a}" for a in AGENTS))


def run_recipe(run_dir: Path, seed: int, scratch: str = "my-results/training/heldout-sampled"):
    """The recipe a train_comam.py run trained with (its process.json), writing only to `scratch`."""
    from comam_bench.training.recipe import load_recipe

    info = json.loads((run_dir / "process.json").read_text())
    sets = [s for s in info["sets"] if not s.startswith(("output_dir=", "eval.results_dir="))]
    return load_recipe(info["recipe"], [*sets, f"seed={seed}", f"output_dir={scratch}"])


def measure(recipe, checkpoint: Path | None, questions: int, samples: int, temperature: float | None,
            sample_seed: int) -> tuple[dict[str, dict[str, float]], float]:
    """question id -> mean of each key over `samples` trajectories, for one set of policies."""
    from comam_bench.comam.checkpoint import load_checkpoint
    from comam_bench.training.local import LocalTrainer
    from comam_bench.comam.training.rollout import rollout

    t = LocalTrainer()
    t.prepare(recipe, load_checkpoint(checkpoint) if checkpoint else None)
    examples = t.val_set[:questions]
    temp = recipe.rollout.temperature if temperature is None else temperature
    agents = [a for a in t.pipeline.settings.agents if a != "answer"]
    out: dict[str, dict[str, float]] = {}
    for ex in examples:  # one question's G samples per generate call, as in training
        g = rollout(t.pipeline, [ex], samples, temp, sample_seed)[0]
        t.scorer.score([g], agents)
        row = {"accuracy": st.mean(g.answer)}
        row.update({f"reward/{a}": st.mean(g.local[a]) for a in agents})
        out[ex.question.id] = row
    del t
    gc.collect()
    return out, temp


def summarize(data: dict) -> str:
    from comam_bench.training.compare import call, paired

    lines = [f"Produced by: `{data['command']}`", "",
             f"Held-out questions sampled {data['samples']} times each at temperature {data['temperature']} "
             f"(sampling seed {data['sample_seed']}), checkpoint minus untrained on the same (seed, question), "
             "pooled over seeds; 95% t intervals.", "",
             "| policy | seeds | n | " + " | ".join(KEYS) + " |", "|---|---|---|" + "---|" * len(KEYS)]
    ref = {f"{s}/{q}": v for s, qs in data["untrained"].items() for q, v in qs.items()}
    rows = [("untrained", data["untrained"])] + list(data["modes"].items())
    for name, per_seed in rows:
        vals = {f"{s}/{q}": v for s, qs in per_seed.items() for q, v in qs.items()}
        cells = []
        for key in KEYS:
            have = [v[key] for v in vals.values() if key in v]
            if not have:  # an agent this pipeline lacks
                cells.append("–")
                continue
            text = f"{st.mean(have):.3f}"
            if name != "untrained":
                p = paired({k: v[key] for k, v in ref.items() if key in v}, {k: v[key] for k, v in vals.items() if key in v})
                if p is not None:
                    iv = p.difference
                    if iv.low is None:
                        text += f"; {iv.mean:+.3f} (n={iv.n}, no interval)"
                    else:  # the verdict by train_comam's summary rule
                        verdict = call(iv.as_dict()["ci95"])
                        text += f"; {iv.mean:+.3f} [{iv.low:+.3f}, {iv.high:+.3f}] ({verdict}; {p.better} up, {p.worse} down)"
            cells.append(text)
        lines.append(f"| {name} | {len(per_seed)} | {len(vals)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="a train_comam.py output folder (OUT/s<seed>/<mode>/checkpoint)")
    p.add_argument("--modes", nargs="+", default=["joint"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--samples", type=int, default=8, help="trajectories per held-out question (G)")
    p.add_argument("--temperature", type=float, default=None, help="default: the run's rollout temperature")
    p.add_argument("--questions", type=int, default=8, help="held-out questions (the training validation's)")
    p.add_argument("--sample-seed", type=int, default=12345)
    p.add_argument("--command", default=None, help="the command line to record (default: this one)")
    args = p.parse_args()
    out = Path(args.out)
    target = out / "heldout_sampled.json"
    data = json.loads(target.read_text()) if target.is_file() else {}
    same = data.get("samples") == args.samples and data.get("sample_seed") == args.sample_seed and \
        data.get("requested_temperature") == args.temperature
    if not same:  # a different measurement starts afresh; the same one resumes (and adds seeds or modes)
        data = {"untrained": {}, "modes": {}}
    data.update(samples=args.samples, sample_seed=args.sample_seed, requested_temperature=args.temperature,
                command=args.command or "benchmarks/heldout_sampled.py " + " ".join(os.sys.argv[1:]))
    for seed in args.seeds:
        runs = {m: out / f"s{seed}" / m for m in args.modes if (out / f"s{seed}" / m / "checkpoint").is_dir()}
        if not runs:
            print(f"seed {seed}: no finished checkpoint of {args.modes}, skipped")
            continue
        reference = runs.get("joint", next(iter(runs.values())))
        jobs = [("untrained", reference, None)] + [(m, d, d / "checkpoint") for m, d in runs.items()]
        for name, run_dir, ckpt in jobs:
            store = data["untrained"] if name == "untrained" else data["modes"].setdefault(name, {})
            if str(seed) in store:
                continue
            t0 = time.perf_counter()
            store[str(seed)], data["temperature"] = measure(run_recipe(run_dir, seed), ckpt, args.questions,
                                                            args.samples, args.temperature, args.sample_seed)
            means = {k: round(st.mean(v[k] for v in store[str(seed)].values()), 3) for k in KEYS}
            print(f"seed {seed} {name}: {means} ({time.perf_counter() - t0:.0f} s)", flush=True)
            target.write_text(json.dumps(data, indent=1) + "\n")  # after every policy: nothing is lost
    (out / "heldout_sampled.md").write_text(summarize(data))
    print((out / "heldout_sampled.md").read_text())


if __name__ == "__main__":
    main()
