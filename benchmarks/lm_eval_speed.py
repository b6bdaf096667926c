"""The same questions, model and protocol through lm-eval's hf runner and through `comam-bench run`, side by
side in one process: wall time (model already loaded on both sides; load times reported apart) and accuracy.

    .venv/bin/python benchmarks/lm_eval_speed.py --task personamem-mini --limit 8 \\
        --out results/benchmarks/lm_eval_speed_personamem-mini.json

ratio = comam-bench wall / lm-eval wall (goal <= 1.0 at equal accuracy). Both sides use the embedded
model in float32 on CPU, greedy, the same batch size (--batch-size, default 1), full context. The sides run
one after the other in one process, so they share the machine's load at the time; on a shared machine the
CPU-time ratio (process time, all threads) is the steadier reading; rerun for a second one.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _lm_eval_sides import arguments, export, load_both, run_protocol, write_report  # noqa: E402


def row(protocol: str, sides: dict) -> dict:
    if "skipped" in sides:
        return sides
    theirs, ours = sides["lm_eval"], sides["comam_bench"]
    n = len(ours["rows"])
    if protocol == "discriminative":
        accuracy = {"lm_eval": round(theirs["results"]["acc,none"], 4), "comam_bench": ours["accuracy"]}
        equal = abs(accuracy["lm_eval"] - accuracy["comam_bench"]) < 1e-4
    else:  # lm-eval's acc is our sum norm, acc_norm our char norm
        accuracy = {"lm_eval": {m: round(theirs["results"][f"{m},none"], 4) for m in ("acc", "acc_norm")},
                    "comam_bench": ours["accuracy_by_norm"]}
        equal = all(abs(accuracy["lm_eval"][m] - ours["accuracy_by_norm"].get(norm, -1)) < 1e-4
                    for m, norm in (("acc", "sum"), ("acc_norm", "char")))
    return {"questions": n,
            "wall_seconds": {"lm_eval": round(theirs["wall_seconds"], 1), "comam_bench": round(ours["wall_seconds"], 1)},
            "seconds_per_question": {"lm_eval": round(theirs["wall_seconds"] / n, 2),
                                     "comam_bench": round(ours["wall_seconds"] / n, 2)},
            "ratio": round(ours["wall_seconds"] / theirs["wall_seconds"], 3),
            # CPU seconds of the process (all threads): less swayed than wall time by other jobs on the machine
            "cpu_seconds": {"lm_eval": round(theirs["cpu_seconds"], 1), "comam_bench": round(ours["cpu_seconds"], 1)},
            "cpu_ratio": round(ours["cpu_seconds"] / theirs["cpu_seconds"], 3),
            "accuracy": accuracy, "equal_accuracy": equal}


def main() -> None:
    args = arguments(__doc__, batch_size=True)

    models = load_both(args.model, args.batch_size)
    folder = export(args.task, args.data_dir, models["ours"])
    report = {"task": args.task, "model": args.model, "lm_eval_model_args": models["lm_eval_model_args"],
              "system": "full-context", "limit": args.limit, "batch_size": args.batch_size,
              "load_seconds": models["load_seconds"], "protocols": {}}
    for protocol in args.protocols:
        sides = run_protocol(protocol, args.task, args.data_dir, folder, models, args.limit, args.batch_size)
        report["protocols"][protocol] = row(protocol, sides)
        print(protocol, json.dumps(report["protocols"][protocol]), flush=True)
    write_report(args.out, report)


if __name__ == "__main__":
    main()
