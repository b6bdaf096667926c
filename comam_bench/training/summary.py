"""The machine-readable summary of a training comparison (benchmarks/train_comam.py output folders).

    summary = summarize(OUT)        # reads OUT/[s<seed>/]<mode>/{process.json, metrics.jsonl, validation_questions.jsonl}
    write(OUT, command)             # summary_report.write: OUT/summary.json, then summary.md and curves.png

Per mode, every held-out measure has one shape: before, after, change (means over seeds), ci95_over_seeds
(a t interval over the seeds' own mean changes: the seed is the unit that varies) and
ci95_bootstrap_session (the change's percentile interval when the validation *sessions* are resampled
with replacement, every seed's questions of a drawn session together: questions of one session share
their memory, so they are not independent), plus the smallest change each interval could have told from
zero (80% power at 5%). "Before" is a run's own step-0 validation or, for runs that skipped it
(--shared-before), the untrained mode's: greedy decoding of adapters that start at zero is the same policy
for every seed and mode. Modes are also compared with joint seed by seed (mode − joint, after training).
The statistics themselves (intervals, bootstraps, detectable changes) are training.compare's; this module
reads the run folders and assembles them.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

from comam_bench.comam.agents import AGENTS
from comam_bench.training.compare import interval, mean_of, measure, rounded, slope, versus
from comam_bench.training.metrics import read_rows

MEASURES = {  # summary name -> per-question key of validation_questions.jsonl
    "heldout_accuracy": "accuracy/likelihood",
    "heldout_accuracy_letter": "accuracy/letter",
    "heldout_probability": "accuracy/probability",
    "memory_only_accuracy": "accuracy/memory",
    **{f"reward_{a}": f"reward/{a}" for a in AGENTS},
}
TRAIN_KEYS = ("answer", *AGENTS)


# --------------------------------------------------------------------------- reading runs
def find_runs(out: Path) -> list[dict[str, Any]]:
    """Every finished run under OUT: seed, mode, folder, process info, metrics and per-question rows."""
    runs = []
    for process in sorted(out.glob("*/process.json")) + sorted(out.glob("s*/*/process.json")):
        info = json.loads(process.read_text())
        m = re.fullmatch(r"s(\d+)", process.parent.parent.name)
        seed = int(m.group(1)) if m else None
        folder = process.parent
        rows = read_rows(folder / "metrics.jsonl") if (folder / "metrics.jsonl").exists() else []
        questions = read_rows(folder / "validation_questions.jsonl") if \
            (folder / "validation_questions.jsonl").exists() else []
        runs.append({"seed": seed, "mode": info["mode"], "folder": folder, "info": info, "rows": rows,
                     "questions": questions})
    return runs


def validations(run: dict[str, Any]) -> dict[int, dict[str, dict]]:
    """step -> {question id: row} of one run's validations."""
    out: dict[int, dict[str, dict]] = {}
    for q in run["questions"]:
        out.setdefault(q["global_step"], {})[q["question"]] = q
    return out


def before_after(run: dict[str, Any], untrained: dict[str, dict] | None) -> tuple[dict, dict] | None:
    """The run's per-question rows before (its step 0, else the untrained run's) and after (its last)."""
    vals = validations(run)
    if not vals:
        return None
    last = max(vals)
    before = vals.get(0) if 0 in vals else untrained
    if before is None:
        return None
    return before, vals[last]


# --------------------------------------------------------------------------- curves
def curves(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, list]]:
    """Per training key, the mean over seeds per step with a t band over seeds (None where one seed)."""
    out = {}
    keys = [f"reward/{k}" for k in TRAIN_KEYS] + [f"weight/{a}" for a in AGENTS]
    for key in keys:
        by_step: dict[int, list[float]] = {}
        for run in runs:
            for row in run["rows"]:
                if row.get("kind") == "train" and row.get(key) is not None:
                    by_step.setdefault(row["global_step"], []).append(row[key])
        if not by_step:
            continue
        steps = sorted(by_step)
        ivs = [interval(by_step[s]) for s in steps]
        out[key] = {"steps": steps, "mean": [rounded(iv.mean) for iv in ivs],
                    "low": [None if iv.low is None else rounded(iv.low) for iv in ivs],
                    "high": [None if iv.high is None else rounded(iv.high) for iv in ivs]}
    return out


# --------------------------------------------------------------------------- the summary
def final_runs(runs: Sequence[dict[str, Any]], results_dir: Path | None) -> dict[tuple, dict]:
    """(seed, task) -> the newest run record (under results_dir/runs) that evaluated that run's checkpoint on
    that task; records name checkpoints portably (comam_bench.portable), so the portable forms are compared."""
    if results_dir is None or not (results_dir / "runs").is_dir():
        return {}
    from comam_bench.leaderboard import scan_runs
    from comam_bench.portable import portable

    records, _ = scan_runs(results_dir / "runs")
    out = {}
    for run in runs:
        checkpoint = portable(str((run["folder"] / "checkpoint").resolve()))
        found = [r for r in records if portable(str(r.system.args.get("checkpoint"))) == checkpoint]
        for task in sorted({str(r.task.raw.get("name")) for r in found}):
            r = max((x for x in found if str(x.task.raw.get("name")) == task), key=lambda x: x.created)
            out[(run["seed"], task)] = {"seed": run["seed"], "run_id": r.run_id, "task": r.task.raw.get("name"),
                                        **{k: r.scores.raw.get(k) for k in ("accuracy", "n", "ci95")},
                                        "against_untrained": against_reference(r, records, results_dir / "runs")}
    return out


def reference_of(trained: Any, records: Sequence[Any]) -> Any | None:
    """The newest untrained twin of the trained record: the same task, protocol and model, no checkpoint, and
    the same settings apart from the weights (leaderboard_paired.settings_key: the rule behind the
    leaderboard's `− untrained` column; evaluate_checkpoints.sh's comam-untrained runs are such twins)."""
    from comam_bench.leaderboard_paired import settings_key

    model = trained.system.config.get("policy_model") or trained.model.spec
    key = settings_key(trained)
    found = [r for r in records if not r.system.checkpoint
             and r.task.raw.get("name") == trained.task.raw.get("name")
             and r.protocol.name == trained.protocol.name and r.model.spec == model and settings_key(r) == key
             # questions pair by id: where each seed drew its own data, only the same seed's run shares them
             and (not trained.data_per_seed or r.seed == trained.seed)]
    return max(found, key=lambda r: r.created) if found else None


def against_reference(trained: Any, records: Sequence[Any], runs_dir: Path) -> dict[str, Any] | None:
    """The trained run minus its untrained reference (reference_of) on the questions both answered, paired:
    the mean change in correctness and its 95% interval with whole history x topic clusters resampled. The
    statistic is the leaderboard's `− untrained` pair itself (leaderboard_paired.paired_change: the same
    unit, bootstrap and minimum of clusters), so the summary and the leaderboard print the same interval."""
    from comam_bench.leaderboard_paired import UNTRAINED, paired_change
    from comam_bench.leaderboard_runs import read_samples
    from comam_bench.scores import cluster_key

    reference = reference_of(trained, records)
    if reference is None:
        return None
    # Keyed by question id alone: the reference may be another seed's untrained run of the same data.
    paths = [runs_dir / r.run_id / "samples.jsonl" for r in (trained, reference)]
    outcomes = [{s["question_id"]: (cluster_key(s), float(s["correct"]))
                 for s in (read_samples(p) if p.is_file() else [])} for p in paths]
    pair = paired_change(*outcomes, rng_key=UNTRAINED)
    if pair is None:
        return None
    return {"reference": reference.run_id, "n": pair["n"], "change": pair["change"],
            "ci95_bootstrap_cluster": pair["ci95"], "clusters": pair["clusters"]}


def summarize(out: Path, command: str = "", results_dir: Path | None = None) -> dict[str, Any]:
    """summary.json's content for the comparison folder OUT (final runs looked up in results_dir)."""
    runs = [r for r in find_runs(out) if r["info"].get("exit_status") == 0]
    untrained_run = next((r for r in runs if r["mode"] == "untrained"), None)
    untrained = validations(untrained_run).get(0) if untrained_run else None
    by_mode: dict[str, list[dict]] = {}
    for r in runs:
        by_mode.setdefault(r["mode"], []).append(r)
    pairs_by_seed: dict[str, dict[int, tuple[dict, dict]]] = {}
    for mode, mode_runs in by_mode.items():
        for r in mode_runs:
            p = before_after(r, untrained)
            if p is not None:
                pairs_by_seed.setdefault(mode, {})[r["seed"] if r["seed"] is not None else -1] = p
    question_sets = {frozenset(after) for m in pairs_by_seed.values() for _, after in m.values()}
    order = sorted(by_mode, key=lambda m: (m != "untrained", m != "joint", m))
    modes = {m: mode_summary(by_mode[m], pairs_by_seed.get(m, {})) for m in order}
    for m in order:
        modes[m]["final_runs"] = list(final_runs(by_mode[m], results_dir).values())
    against = {m: {name: versus(pairs_by_seed, m, key) for name, key in MEASURES.items()}
               for m in order if m not in ("joint", "untrained") and "joint" in pairs_by_seed}
    first = runs[0] if runs else None
    return {
        "command": command,
        "split_unit": _recipe_value(first, "data.split_unit"),
        "validation_questions": len(next(iter(question_sets))) if question_sets else 0,
        "validation_shared": len(question_sets) == 1,
        "seeds": sorted({r["seed"] for r in runs if r["seed"] is not None}),
        "before_from": "untrained" if untrained is not None else "each run's step-0 validation",
        "modes": modes,
        "versus_joint": against,
    }


def mode_summary(runs: list[dict[str, Any]], pairs: dict[int, tuple[dict, dict]]) -> dict[str, Any]:
    pair_list = [pairs[s] for s in sorted(pairs)]
    train = [row for r in runs for row in r["rows"] if row.get("kind") == "train"]
    after_rows = [q for _, after in pair_list for q in after.values()]
    step_times = [mean_of([row["time/step"] for row in r["rows"] if row.get("kind") == "train"]) for r in runs]
    out: dict[str, Any] = {
        "seeds": sorted(r["seed"] for r in runs if r["seed"] is not None),
        "recipe": runs[0]["info"].get("recipe"), "steps": max((row["global_step"] for row in train), default=0),
        **{name: measure(pair_list, key) for name, key in MEASURES.items()},
        "answer_format_rate": rounded(mean_of([q.get("answer_format") for q in after_rows])),
        "seconds_per_step": rounded(mean_of([t for t in step_times if t is not None])),
        "peak_rss_mb": max(r["info"].get("peak_rss_mb", 0) for r in runs),
        "training_slope": {k: _iv(slope([row["global_step"] for row in train],
                                        [row.get(f"reward/{k}") for row in train])) for k in TRAIN_KEYS},
        "curves": curves(runs),
    }
    return out


def _recipe_value(run: dict[str, Any] | None, dotted: str) -> Any:
    """A recipe value of a run, as its command resolved it (the recipe with the run's --set overrides)."""
    if run is None:
        return None
    from comam_bench.training.recipe import load_recipe

    recipe = load_recipe(run["info"]["recipe"], run["info"]["sets"])
    value: Any = recipe
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def _iv(iv) -> dict | None:
    return None if iv is None else iv.as_dict()
