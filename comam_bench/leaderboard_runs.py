"""What the leaderboard reads from one run record (its entry: configuration, scores, costs) and the names of
its groups and rows. The board (leaderboard.py), its open-ended tables (leaderboard_open.py) and its chart
(leaderboard_chart.py) all import this module, and it imports none of them, so they form no import cycle.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from comam_bench.record import RunRecord, number
from comam_bench.results import spec_hash
from comam_bench.scores import DIGITS, bootstrap_clusters, per_question_cost, t_interval, wilson_from_rate

DEFAULT_CHANCE = 0.25
DEFAULT_PROTOCOL = "discriminative"  # a record without a top-level `protocol` (Contract B)
SMALL_N = 20  # below this many questions a Wilson 95% interval at p = 0.5 is wider than ±0.2
# Fewer clusters than this and a percentile bootstrap over them is too coarse (its interval too narrow):
# the row falls back to Wilson over questions, marked as such.
MIN_CLUSTERS = 10
SHORT_TYPES = {  # column headers; the full names go in the legend
    "recall_user_shared_facts": "recall",
    "suggest_new_ideas": "new ideas",
    "acknowledge_latest_preferences": "latest pref",
    "track_full_preference_evolution": "evolution",
    "revisit_reasons_behind_preference_updates": "reasons",
    "provide_preference_aligned_recommendations": "recommend",
    "generalize_to_new_scenarios": "generalize",
}


def read_samples(path: Path) -> list[dict]:
    """A run's samples.jsonl, one dict per answered question."""
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


# --------------------------------------------------------------------------- one run's entry
def _r(x: float | None) -> float | None:
    return None if x is None else round(x, DIGITS)


def _model_spec(run: RunRecord) -> str | None:
    return stable_model_name(run.model.spec)


_ABS_PATH = re.compile(r"(?<![\w.~-])(?:/|[A-Za-z]:[\\/])[^,\s]*")


def stable_model_name(spec: str | None) -> str | None:
    """A model spec with every absolute path cut to its last two parts (`hf:/a/b/smoke/base_model` ->
    `hf:…/smoke/base_model`): the same checkpoint gets the same name on every machine."""
    if not spec:
        return spec

    def cut(m: re.Match) -> str:
        parts = [p for p in re.split(r"[\\/]", m.group(0)) if p]
        return "…/" + "/".join(parts[-2:]) if len(parts) > 2 else m.group(0)

    return _ABS_PATH.sub(cut, spec)


def _config_hash(run: RunRecord) -> str:
    """What identifies a configuration across seeds: the hash of the resolved spec without its seed.

    The run's own spec_hash covers the seed, so seeds of one configuration only meet here. Records
    without a resolved spec fall back to their spec_hash (each seed then stays its own row).
    """
    spec = run.spec
    if not spec:
        return run.spec_hash
    config = {k: v for k, v in spec.items() if k != "seed"}
    if run.data_per_seed:  # each seed has its own data, as each seed has its own sampling
        config.pop("data_files", None)
        config["task"] = {k: v for k, v in (spec.get("task") or {}).items() if k != "seed"}
    return spec_hash(config)


# The latency percentiles a row carries (from the record's cost.latency; None where it has none): the
# field name, then where it is in that block.
LATENCY_FIELDS = {f"{phase}_{p}_seconds": ("seconds", phase, p)
                  for phase in ("ingest", "answer", "total") for p in ("p50", "p95")}


def _phase_tokens(run: RunRecord, phase: str, n: int) -> float | None:
    """A phase's prompt + completion tokens per question: its total over the n questions (as the runner's
    first-needed attribution sums to it), so records without cost.latency have it too."""
    block = run.cost.phase(phase)
    if not block or not n:
        return None
    return round(((number(block.get("prompt_tokens")) or 0.0) + (number(block.get("completion_tokens")) or 0.0)) / n, 1)


def _cost_fields(run: RunRecord, n: int) -> dict[str, float | None]:
    """Per-question LLM calls, tokens (in all and per phase), wall seconds (ingest + answer) and the p50/p95
    seconds per phase, from the run's cost block."""
    per_q = dict(run.cost.per_question)
    if not per_q and n:  # an older record: its phase totals spread over the questions, as the runner does
        per_q = per_question_cost(run.cost.phase("ingest"), run.cost.phase("answer"), n)
    wall = run.cost.wall_seconds
    wall_total = sum(number(v) or 0.0 for v in wall.values())
    prompt, completion = number(per_q.get("prompt_tokens")), number(per_q.get("completion_tokens"))
    latency = run.cost.latency
    return {
        "calls_per_question": number(per_q.get("calls")),
        "prompt_tokens_per_question": prompt,
        "completion_tokens_per_question": completion,
        "tokens_per_question": None if prompt is None and completion is None else (prompt or 0.0) + (completion or 0.0),
        "ingest_tokens_per_question": _phase_tokens(run, "ingest", n),
        "answer_tokens_per_question": _phase_tokens(run, "answer", n),
        "seconds_per_question": wall_total / n if wall and n else number(per_q.get("seconds")),
        **{k: latency.stat(*where) if latency else None for k, where in LATENCY_FIELDS.items()},
    }


def _run_entry(run: RunRecord) -> dict[str, Any]:
    """The flat numbers of one run that a leaderboard row is made of."""
    scores = run.scores
    n = scores.n
    return {
        "task": run.task.name,
        "size": run.task.size,
        "model": _model_spec(run),
        "protocol": run.protocol.name,
        "system": run.system.name,
        "name": system_name(run),
        "spec_hash": run.spec_hash,
        "config_hash": _config_hash(run),
        "run_id": run.run_id,
        "created": run.created,
        "seed": run.seed,
        "n": n,
        "data_per_seed": bool(run.spec) and run.data_per_seed,
        "chance": scores.chance or DEFAULT_CHANCE,
        "accuracy": scores.accuracy or 0.0,
        "ci95": [_r(x) for x in (scores.ci95 or wilson_from_rate(scores.accuracy or 0.0, n))],
        "clusters": scores.clusters,
        "by_type": {t: b.get("accuracy") for t, b in scores.by_type.items()},
        "by_norm": {k: number((v or {}).get("accuracy")) for k, v in (run.scores_by_norm or {}).items()},
        "extraction_failures": scores.extraction_failures,
        "memory_items": number(run.memory.get("items")),
        "memory_tokens": number(run.memory.get("tokens")),
        "skipped": run.skipped_count,
        **_cost_fields(run, n),
    }


# --------------------------------------------------------------------------- a row's interval
def row_clusters(kept: list[dict]) -> dict[str, tuple[int, int]]:
    """The row's clusters (history × topic, scores.cluster_key) over its seeds: each seed's own when each seed
    drew its own data, else one cluster per history and topic with every seed's answers in it (the seeds
    then vary only the sampling of one data set). {} when a record has none."""
    if not kept or not all(e.get("clusters") for e in kept):
        return {}
    if len(kept) > 1 and all(e["data_per_seed"] for e in kept):
        return {f"{e['seed']}/{c}": nk for e in kept for c, nk in e["clusters"].items()}
    merged: dict[str, tuple[int, int]] = {}
    for e in kept:
        for c, (n, k) in e["clusters"].items():
            n0, k0 = merged.get(c, (0, 0))
            merged[c] = (n0 + n, k0 + k)
    return merged


def row_interval(kept: list[dict], accuracy: float, n: int) -> dict[str, Any]:
    """A row's 95% interval over the unit that varies: whole history × topic clusters resampled (questions
    of one topic share their evidence, so they are not independent) when the row has MIN_CLUSTERS of them;
    else Wilson over its n questions (`ci95_over` says which). With several seeds, the Student-t interval of
    the seed accuracies beside it (`ci95_over_seeds`: wide with 3 seeds, and the only one that also covers
    what differs between whole histories)."""
    clusters = row_clusters(kept)
    if len(clusters) >= MIN_CLUSTERS:
        ci, over = bootstrap_clusters(clusters[c] for c in sorted(clusters)), "topics"
    else:
        ci, over = (kept[0]["ci95"] if len(kept) == 1 else wilson_from_rate(accuracy, n)), "questions"
    seeds = t_interval(e["accuracy"] for e in kept)
    return {"ci95": [_r(x) for x in ci], "ci95_over": over, "clusters": len(clusters),
            "ci95_over_seeds": None if seeds is None else [_r(max(0.0, seeds[0])), _r(min(1.0, seeds[1]))]}


# --------------------------------------------------------------------------- names
_TRAINING_DIRS = ("results/training/", "my-results/training/")


def checkpoint_place(path: str) -> str:
    """Where a checkpoint is, shortly: `results/training/cpu-t03/s0/joint/checkpoint` -> `cpu-t03/s0/joint`
    (the training folder names the experiment, seed and mode); elsewhere its last parts."""
    text = str(path).replace("\\", "/").rstrip("/")
    text = text[: -len("/checkpoint")] if text.endswith("/checkpoint") else text
    for prefix in _TRAINING_DIRS:
        if prefix in text:
            return text.split(prefix, 1)[1]
    return "/".join(text.split("/")[-3:])


def system_name(run: RunRecord) -> str:
    """The name a row shows for its system: the registered name, and for a trained checkpoint what it is
    (`comam joint step 15 · cpu-compare/s0`: its training mode or recipe and its step, from the trainer's
    notes recorded in system.config.checkpoint_info, and where it was trained), so two checkpoints are told
    apart by name rather than by a config hash; `comam trained · DIR` where the record has no notes."""
    config = run.system.config
    ckpt = run.system.checkpoint
    if not ckpt:
        return run.system.name
    info = config.get("checkpoint_info") if isinstance(config.get("checkpoint_info"), dict) else {}
    place = checkpoint_place(ckpt)
    # What was trained: the training mode where the trainer noted it (a recipe differs from its
    # neighbours in that: cpu-smollm2 is joint, ablation-local-only local-only), else the recipe's name.
    kind = str(info.get("mode") or info.get("recipe") or "")
    if kind and place.endswith("/" + kind):  # the folder already says it: `cpu-t03/s0/joint` -> `cpu-t03/s0`
        place = place[: -len(kind) - 1]
    step = info.get("global_step")
    what = " ".join([kind] * bool(kind) + ([f"step {step}"] if step is not None else []))
    return f"{run.system.name} {what or 'trained'} · {place}"


def title(group: dict) -> str:
    """`task · model · protocol`: names the group in tables, JSON readers and the chart."""
    return f"{group['task']} · {group['model'] or 'no model'} · {group.get('protocol') or DEFAULT_PROTOCOL}"


def label(group: dict, row: dict) -> str:
    """The system's name (system_name); its config hash too when the group holds two configurations of that name;
    how many configurations a collapsed row stands for; † for model-free, ‡ for small samples."""
    name = row.get("name") or row["system"]
    if sum((r.get("name") or r["system"]) == name for r in group["rows"]) > 1:
        name += f" [{row['config_hash'][:8]}]"
    if row.get("collapsed", 1) > 1:
        name += f" ×{row['collapsed']} configs"
    return name + (" †" if row["model_free"] else "") + (" ‡" if row.get("small_sample") else "")
