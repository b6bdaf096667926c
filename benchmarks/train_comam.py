"""CoMAM joint RL against its ablations for the same step budget: before/after validation, rewards, cost.

    .venv/bin/python benchmarks/train_comam.py --modes joint independent local-only --steps 3 \\
        --output-dir results/training/benchmark-cpu --results-dir results

Each mode is one real `comam-bench train` run (a child process, so its peak memory is its own) of the
recipe that mode stands for, with the same overrides for all: the step budget, validation on the same
held-out questions before the first step and after the last, and the final harness evaluation of the
checkpoint. "Same budget" means the same number of optimizer steps, each on the same number of rollout
groups: joint spends them on all three agents at once, independent splits them into one phase per agent
(steps/3 each, the others frozen), local-only is joint with r_final,n = r_n.

Names as in `comam-bench train`: --output-dir (default my-results/training/benchmark-cpu, git-ignored) holds
the training outputs, --results-dir (default my-results/) the final evaluations' run records.
A mode's outputs stay in OUT/<mode>/ (metrics.jsonl, training_curves.png, train.log; the checkpoint is
not kept in git). Modes can run as separate processes at the same time into one OUT; `--summarize` then
reads whatever finished and writes OUT/summary.json and OUT/summary.md.
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

from comam_bench.results import default_results_dir

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODES = {  # mode -> (recipe in trainers/, extra overrides)
    "joint": ("cpu-smollm2", []),
    "independent": ("ablation-independent", []),
    "local-only": ("ablation-local-only", []),
    "global-only": ("ablation-global-only", []),
    "equal-weights": ("ablation-equal-weights", []),
}
AGENTS = ("extraction", "profile", "retrieval")


def run_mode(mode: str, args: argparse.Namespace, seed: int | None = None) -> dict:
    recipe, extra = MODES[mode]
    out = Path(args.out) / (f"s{seed}" if seed is not None else "") / mode
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    steps = args.steps // 3 if mode == "independent" else args.steps
    if mode == "independent" and steps * 3 != args.steps:
        sys.exit(f"--steps {args.steps}: independent RL splits the budget over 3 agents; use a multiple of 3")
    sets = [f"output_dir={out}", f"train.max_steps={steps}", "eval.at_start=true", f"eval.every={args.eval_every}",
            f"eval.validation_limit={args.validation}", f"eval.final={'true' if args.final_limit else 'false'}",
            f"eval.final_limit={args.final_limit or 'null'}", "train.save_every=0", *extra, *args.sets,
            *([f"seed={seed}"] if seed is not None else [])]
    sets.append(f"eval.results_dir={args.results_dir}")  # explicit: the summary reads the records back from there
    cmd = [sys.executable, "-m", "comam_bench.cli.main", "train", "--recipe", recipe]
    for s in sets:
        cmd += ["--set", s]
    start = time.perf_counter()
    with open(out / "train.log", "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak RSS, not the max over all children
    wall = time.perf_counter() - start
    info = {"mode": mode, "recipe": recipe, "sets": sets, "exit_status": os.waitstatus_to_exitcode(status),
            "wall_seconds": round(wall, 1), "peak_rss_mb": round(usage.ru_maxrss / 1024),
            "load_average_after": [round(x, 2) for x in os.getloadavg()], "command": " ".join(cmd)}
    (out / "process.json").write_text(json.dumps(info, indent=1) + "\n")
    if info["exit_status"] != 0:
        print(f"{mode}: exit {info['exit_status']}; see {out / 'train.log'}", file=sys.stderr)
    return info


def mean(xs: list[float]) -> float | None:
    return round(sum(xs) / len(xs), 4) if xs else None


def summarize_mode(out: Path, records: list[dict]) -> dict | None:
    """Before/after validation, training rewards, step time and the final run record of one mode's output."""
    process = out / "process.json"
    metrics = out / "metrics.jsonl"
    if not (process.exists() and metrics.exists()):
        return None
    info = json.loads(process.read_text())
    from comam_bench.training.metrics import read_rows

    rows = read_rows(metrics)
    train = [r for r in rows if r["kind"] == "train"]
    val = [r for r in rows if r["kind"] == "validation"]
    before = next((r for r in val if r["global_step"] == 0), None)
    after = next((r for r in reversed(val) if r["global_step"] > 0), None)

    def pick(row: dict | None) -> dict | None:
        if row is None:
            return None
        return {"accuracy": row["val/accuracy"], "questions": int(row["val/questions"]),
                **{a: row.get(f"val/reward/{a}") for a in AGENTS}}

    final = None
    record = _final_record(out, records)
    if record is not None:
        s = record["scores"]
        final = {"run_id": record["run_id"], "accuracy": s["accuracy"], "n": s["n"], "ci95": s.get("ci95")}
    return {
        "mode": info["mode"], "recipe": info["recipe"], "exit_status": info["exit_status"],
        "steps": len(train), "trained_per_step": [r["trained"] for r in train],
        "validation_before": pick(before), "validation_after": pick(after),
        "train_reward_by_step": {k: [r.get(f"reward/{k}") for r in train] for k in (*AGENTS, "answer")},
        "weights_by_step": {a: [r.get(f"weight/{a}") for r in train] for a in AGENTS},
        "mean_step_seconds": mean([r["time/step"] for r in train]),
        "mean_rollout_seconds": mean([r["time/rollout"] for r in train]),
        "mean_update_seconds": mean([r["time/update"] for r in train]),
        "completion_tokens_per_step": mean([r["tokens/completion"] for r in train]),
        "wall_seconds": info["wall_seconds"], "peak_rss_mb": info["peak_rss_mb"],
        "load_average_after": info["load_average_after"], "final_run": final, "sets": info["sets"],
    }


def _final_record(out: Path, records: list[dict]) -> dict | None:
    """The newest complete run record that evaluated this mode's checkpoint (the trainer's final evaluation)."""
    checkpoint = str((out / "checkpoint").resolve())
    found = [r for r in records if r.get("system", {}).get("args", {}).get("checkpoint") == checkpoint]
    return max(found, key=lambda r: r.get("created", "")) if found else None


def fmt(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def write_summary(out: Path, results_dir: Path) -> dict:
    from comam_bench.leaderboard import scan_runs

    records, _ = scan_runs(results_dir / "runs")  # complete records only, read once for every mode
    modes = [m for m in (summarize_mode(d, records) for d in sorted(out.iterdir()) if d.is_dir()) if m]
    summary = {"modes": modes, "python": sys.version.split()[0], "cpu_count": os.cpu_count()}
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["| mode | steps | val acc before → after | extraction before → after | profile before → after | "
             "retrieval before → after | final run acc (n) | s/step | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in modes:
        b, a = m["validation_before"] or {}, m["validation_after"] or {}
        cells = [f"{fmt(b.get(k))} → {fmt(a.get(k))}" for k in ("accuracy", *AGENTS)]
        f = m["final_run"]
        final = f"{fmt(f['accuracy'])} ({f['n']})" if f else "–"
        lines.append(f"| {m['mode']} | {m['steps']} | " + " | ".join(cells)
                     + f" | {final} | {fmt(m['mean_step_seconds'], 1)} | {m['peak_rss_mb']} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", nargs="*", default=["joint", "independent", "local-only"], choices=sorted(MODES))
    parser.add_argument("--steps", type=int, default=3, help="optimizer steps per mode (a multiple of 3)")
    parser.add_argument("--validation", type=int, default=8, help="held-out questions validated before and after")
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
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.summarize:
        for seed in args.seeds or [None]:  # seed-major: each seed's modes finish together
            for mode in args.modes:
                run_mode(mode, args, seed)
    write_summary(out, Path(args.results_dir))


if __name__ == "__main__":
    main()
