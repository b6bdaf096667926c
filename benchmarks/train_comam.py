"""CoMAM joint RL against its ablations for the same step budget: before/after validation, rewards, cost.

    .venv/bin/python benchmarks/train_comam.py --modes joint independent local-only --steps 3 \\
        --output-dir results/training/benchmark-cpu --results-dir results

Each mode is one real `comam-bench train` run (a child process, so its peak memory is its own) of the
recipe that mode stands for, with the same overrides for all: the step budget, validation on the same
held-out questions before the first step and after the last, and the final harness evaluation of the
checkpoint. "Same budget" means the same number of optimizer steps, each on the same number of rollout
groups: joint spends them on all three agents at once, independent splits them into one phase per agent
(steps/3 each, the others frozen), local-only is joint with r_final,n = r_n.

With --seeds, every mode runs once per seed into OUT/s<seed>/<mode>/ (seed-major, so a seed's modes
finish together); --eval-every K adds validations every K steps (the curves Table 5's plateaus are read
from). The same seed gives every mode the same held-out questions and training batches (independent RL
draws its batches per phase).

Names as in `comam-bench train`: --output-dir (default my-results/training/benchmark-cpu, git-ignored) holds
the training outputs, --results-dir (default my-results/) the final evaluations' run records.
A run's outputs stay in its folder (metrics.jsonl, validation_questions.jsonl, training_curves.png,
train.log, process.json; the checkpoint is not kept in git). Runs can go as separate processes at the same
time into one OUT; `--summarize` then reads whatever finished and writes OUT/summary.json, OUT/summary.md
and OUT/curves.png (comam_bench.training.summary: before/after/change per mode with intervals over seeds and
by session bootstrap, the smallest detectable change, each mode against joint).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from comam_bench.portable import portable
from comam_bench.results import default_results_dir
from comam_bench.training.recipe import recipe_path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODES = {  # mode -> (recipe in trainers/ holding its overrides, extra overrides); see mode_sets
    "untrained": (None, ["train.max_steps=0"]),  # the prompt-only policies: validation only
    "joint": (None, []),
    "joint-warm-start": (None, ["train.warm_start_steps=16"]),  # the format warm start, then joint RL
    "independent": ("ablation-independent", []),  # equal total steps: steps/3 per agent
    "independent-equal-updates": ("ablation-independent", []),  # as many updates per agent as joint's
    "local-only": ("ablation-local-only", []),
    "global-only": ("ablation-global-only", []),
    "equal-weights": ("ablation-equal-weights", []),
    "single-policy": ("ablation-single-policy", []),
    "no-extraction": ("ablation-trained-no-extraction", []),
    "no-profile": ("ablation-trained-no-profile", []),
    "no-retrieval": ("ablation-trained-no-retrieval", []),
}
SEEDLESS = ("untrained",)  # greedy validation of adapters that start at zero: the same for every seed


def mode_sets(mode: str) -> list[str]:
    """A mode's overrides of the base recipe: its ablation recipe's own keys (whatever recipe that one
    includes), flattened to --set pairs, then the mode's extras."""
    ablation, extra = MODES[mode]
    if ablation is None:
        return list(extra)
    data = yaml.safe_load(recipe_path(ablation).read_text()) or {}
    return [f"{k}={json.dumps(v)}" for k, v in _flatten(data) if k not in ("include", "description", "name")] + extra


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    out = []
    for key, value in data.items():
        if isinstance(value, dict) and value:
            out += _flatten(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out


def steps_of(mode: str, steps: int) -> int:
    """Optimizer steps per phase: independent RL at equal total steps gives each agent a third."""
    if mode == "independent":
        if steps % 3:
            sys.exit(f"--steps {steps}: independent RL splits the budget over 3 agents; use a multiple of 3")
        return steps // 3
    return 0 if mode == "untrained" else steps


def run_mode(mode: str, args: argparse.Namespace, seed: int | None = None) -> dict:
    out = Path(args.out) / (f"s{seed}" if seed is not None and mode not in SEEDLESS else "") / mode
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    at_start = "true" if mode == "untrained" or not args.shared_before else "false"
    sets = [f"output_dir={out}", f"train.max_steps={steps_of(mode, args.steps)}", f"eval.at_start={at_start}",
            f"eval.every={args.eval_every}",
            f"eval.validation_limit={args.validation or 'null'}", f"eval.final={'true' if args.final_limit else 'false'}",
            f"eval.final_limit={args.final_limit or 'null'}", "train.save_every=0", *mode_sets(mode), *args.sets,
            *([f"seed={seed}"] if seed is not None else [])]
    sets.append(f"eval.results_dir={args.results_dir}")  # explicit: the summary reads the records back from there
    cmd = [sys.executable, "-m", "comam_bench.cli.main", "train", "--recipe", args.recipe]
    for s in sets:
        cmd += ["--set", s]
    start = time.perf_counter()
    with open(out / "train.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the max over all children
    wall = time.perf_counter() - start
    log_file = out / "train.log"  # no absolute path of this machine in a committed log (comam_bench.portable)
    with open(log_file, encoding="utf-8", errors="replace", newline="") as fh:  # tqdm's \r lines kept
        text = portable(fh.read())
    with open(log_file, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    info = {"mode": mode, "recipe": args.recipe, "sets": sets, "exit_status": os.waitstatus_to_exitcode(status),
            "wall_seconds": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "load_average_after": [round(x, 2) for x in os.getloadavg()], "command": portable(" ".join(cmd))}
    (out / "process.json").write_text(json.dumps(info, indent=1) + "\n")
    if info["exit_status"] != 0:
        print(f"{mode}: exit {info['exit_status']}; see {out / 'train.log'}", file=sys.stderr)
    return info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="*", default=["joint", "independent", "local-only"], choices=sorted(MODES))
    parser.add_argument("--recipe", default="cpu-smollm2",
                        help="the base recipe every mode overrides (default cpu-smollm2; the flagship: cpu-flagship)")
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per mode (a multiple of 3)")
    parser.add_argument("--validation", type=int, default=8,
                        help="held-out questions validated before and after (0: all of the recipe's)")
    parser.add_argument("--shared-before", action="store_true",
                        help="training modes skip the step-0 validation; the summary's 'before' is the untrained "
                             "mode's (run it too): greedy decoding with adapters that start at zero is the same "
                             "policy for every seed and mode")
    parser.add_argument("--final-limit", type=int, default=0,
                        help="questions of the final harness evaluation (0 = no final evaluation)")
    parser.add_argument("--results-dir", default=str(default_results_dir()),
                        help="results folder for the final evaluations' run records (DIR/runs/<id>/; default "
                             "my-results/; the committed ones: results)")
    parser.add_argument("--eval-every", type=int, default=0,
                        help="validate every K steps as well (the curves Table 5's plateaus are read from; 0: "
                             "only before the first step and after the last)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[],
                        help="run every mode once per seed, into OUT/s<seed>/<mode> (default: one run into OUT/<mode>)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="recipe override applied to every mode")
    parser.add_argument("--output-dir", "--out", dest="out", default=str(default_results_dir() / "training" / "benchmark-cpu"),
                        help="training outputs, one folder per mode, and the summary (default "
                             "my-results/training/benchmark-cpu; the committed one: results/training/benchmark-cpu)")
    parser.add_argument("--summarize", action="store_true", help="only (re)write the summary of OUT")
    parser.add_argument("--command", default=None,
                        help="the command line to record in summary.md (e.g. both halves of a split run)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.summarize:
        done_seedless = set()
        for seed in args.seeds or [None]:  # seed-major: each seed's modes finish together
            for mode in args.modes:
                if mode in SEEDLESS and mode in done_seedless:
                    continue
                done_seedless.add(mode)
                run_mode(mode, args, seed)
    from comam_bench.training.summary_report import write

    summary = write(out, args.command or " ".join(["python", *sys.argv]), Path(args.results_dir))
    print((out / "summary.md").read_text() if summary["modes"] else f"no finished runs in {out}")


if __name__ == "__main__":
    main()
