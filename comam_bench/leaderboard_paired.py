"""Paired differences against a table's reference rows: every row minus no-memory (does memory help at all?)
and minus full-context (does a memory system beat reading what fits in the window?), on the questions both
answered.

Why paired: two rows of one table answer the same questions (seed by seed), and most of the variance of a
row's accuracy is which questions it drew. Whether two rows' own intervals overlap is a weak test; the mean
of their per-question differences, with its interval, is the one that says whether they differ. The unit
resampled is the leaderboard's (scores.cluster_key: a history × topic, per seed when each seed drew its own
data), so the interval does not treat the questions of one topic as independent.

A trained checkpoint's row is also paired with its untrained twin (UNTRAINED): the row of the same system
class whose settings equal the checkpoint's apart from the weights, so "does training help?" is read off
the same questions (for the flagship's checkpoints the twin is comam-flagship, baselines/comam-flagship.yaml).

Read from each run's samples.jsonl (the `correct` field: the headline norm); build_board calls add_paired
when it knows the runs' folder. A pair without MIN_CLUSTERS clusters has its change but no interval.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from comam_bench.leaderboard_runs import MIN_CLUSTERS, _r, read_samples
from comam_bench.record import RunRecord
from comam_bench.results import spec_hash
from comam_bench.scores import cluster_key, percentile_ci95, resampled_means

REFERENCES = ("no-memory", "full-context")
UNTRAINED = "untrained"  # the pair of a trained checkpoint's row with its untrained twin
# Keys of a system's resolved config that say which weights it runs rather than how it is set up (with the
# per-agent `*_model` / `*_adapter` keys): a trained row and its twin may differ in these only.
_WEIGHT_KEYS = frozenset({"checkpoint", "checkpoint_info", "checkpoint_prompt_version", "models"})

# (seed, question_id) -> (cluster, 1.0 if correct else 0.0)
Outcomes = dict[tuple[str, str], tuple[str, float]]


def run_outcomes(run: RunRecord, samples: Sequence[Mapping[str, Any]]) -> Outcomes:
    """One run's per-question outcomes, keyed so that seeds never mix: a question id may recur across seeds."""
    seed = str(run.seed)
    prefix = f"{seed}/" if run.data_per_seed else ""
    return {(seed, str(s["question_id"])): (prefix + cluster_key(s), float(bool(s.get("correct"))))
            for s in samples if "question_id" in s}


def paired_cells(row: Mapping[Any, tuple[str, float]],
                 reference: Mapping[Any, tuple[str, float]]) -> list[tuple[str, float]]:
    """(row's cluster, row − reference) for each question both answered, in key order: the pairing behind the
    leaderboard's paired tables and the training summary's trained-against-untrained change."""
    return [(row[k][0], row[k][1] - reference[k][1]) for k in sorted(set(row) & set(reference))]


def paired_change(row: Outcomes, reference: Outcomes, rng_key: str) -> dict[str, Any] | None:
    """The mean of row − reference over their common questions, with a 95% percentile interval when whole
    clusters are resampled (None without MIN_CLUSTERS of them); None when they share no question."""
    pairs = paired_cells(row, reference)
    if not pairs:
        return None
    by_cluster: dict[str, list[float]] = {}
    for cluster, diff in pairs:
        by_cluster.setdefault(cluster, []).append(diff)
    cells = [(len(v), sum(v)) for _, v in sorted(by_cluster.items())]
    change = sum(t for _, t in cells) / len(pairs)
    ci = None
    if len(cells) >= MIN_CLUSTERS:
        ci = [_r(x) for x in percentile_ci95(resampled_means(cells, f"comam-bench-paired/{rng_key}"))]
    return {"n": len(pairs), "change": _r(change), "ci95": ci, "clusters": len(cells)}


def separates(pair: Mapping[str, Any] | None) -> bool:
    """Whether the pair's interval excludes 0 (the difference is outside the noise)."""
    ci = (pair or {}).get("ci95")
    return bool(ci) and (ci[0] > 0 or ci[1] < 0)


def settings_key(run: RunRecord) -> str:
    """What a run's system is apart from its weights: the hash of its class and its resolved config without
    the checkpoint, the adapters and the per-agent models. A trained run and its untrained twin share it."""
    kept = {k: v for k, v in run.system.config.items()
            if k not in _WEIGHT_KEYS and not k.endswith(("_adapter", "_model"))}
    return spec_hash({"target": run.system.raw.get("target"), "config": kept})


def untrained_twins(rows: Sequence[dict], by_id: Mapping[str, RunRecord]) -> list[tuple[dict, dict]]:
    """(trained row, its untrained twin) for each row whose runs loaded a checkpoint and that has a twin in
    `rows`: a row without a checkpoint and of the same settings_key (the one with most questions)."""
    def run_of(row: dict) -> RunRecord | None:
        return by_id.get(row["run_ids"][0]) if row.get("run_ids") and not row["model_free"] else None

    untrained: dict[str, list[dict]] = {}
    trained: list[tuple[dict, str]] = []
    for row in rows:
        if (run := run_of(row)) is not None:
            if run.system.checkpoint:
                trained.append((row, settings_key(run)))
            else:
                untrained.setdefault(settings_key(run), []).append(row)
    return [(row, max(untrained[key], key=lambda r: r["n"])) for row, key in trained if key in untrained]


def _reference_row(rows: Sequence[dict], system: str) -> dict | None:
    """The group's row of a reference system: the one with most questions (then the table's order)."""
    found = [r for r in rows if r["system"] == system and not r["model_free"]]
    return max(found, key=lambda r: r["n"]) if found else None


def add_paired(groups: Sequence[dict], runs: Sequence[RunRecord], runs_dir: Path) -> None:
    """Give each row of each group `paired`: {reference system: paired_change} for the group's reference
    rows (not against itself), and {UNTRAINED: paired_change + `against`, the twin's name} for a trained
    checkpoint's row with an untrained twin. Rows with no pair are left as they are."""
    by_id = {r.run_id: r for r in runs}
    cache: dict[str, Outcomes] = {}

    def outcomes(row: dict) -> Outcomes:
        merged: Outcomes = {}
        for run_id in row["run_ids"]:
            if run_id not in cache:
                path = Path(runs_dir) / run_id / "samples.jsonl"
                cache[run_id] = run_outcomes(by_id[run_id], read_samples(path)) \
                    if run_id in by_id and path.is_file() else {}
            merged.update(cache[run_id])
        return merged

    for group in groups:
        refs = {s: r for s in REFERENCES if (r := _reference_row(group["rows"], s)) is not None}
        twins = {id(row): twin for row, twin in untrained_twins(group["rows"], by_id)}
        for row in group["rows"]:
            against = {s: ref for s, ref in refs.items() if ref is not row}
            if id(row) in twins:
                against[UNTRAINED] = twins[id(row)]
            pairs = {s: paired_change(outcomes(row), outcomes(ref), s) for s, ref in against.items()}
            pairs = {s: p for s, p in pairs.items() if p is not None}
            if UNTRAINED in pairs:
                pairs[UNTRAINED]["against"] = twins[id(row)].get("name") or twins[id(row)]["system"]
            if pairs:
                row["paired"] = pairs


PAIRED_NOTE = ("the row's accuracy minus the reference's on the questions both answered, seed by seed; 95% CI "
               "with whole history × topic clusters resampled (leaderboard_paired.py). Bold: the interval "
               "excludes 0, so the two differ outside the noise.")
UNTRAINED_NOTE = ("`untrained`: a trained checkpoint's row minus its untrained twin, the same system with the "
                  "same settings and base weights ({twins}).")


def paired_intro(group: dict, refs: Sequence[str], code=lambda s: s) -> str:
    """The sentence above a paired table: what it is paired against and how to read it; `code` marks names."""
    names = [code(s) for s in refs]
    text = "Paired against " + (" and ".join(names) if len(names) < 3 else
                                ", ".join(names[:-1]) + " and " + names[-1]) + ": " + PAIRED_NOTE
    if UNTRAINED in refs:
        twins = sorted({f"{row.get('name') or row['system']} − {p['against']}" for row in group["rows"]
                        if (p := row.get("paired", {}).get(UNTRAINED))})
        text += " " + UNTRAINED_NOTE.format(twins="; ".join(twins)).replace("`untrained`", code(UNTRAINED))
    return text


def paired_table(group: dict, label) -> tuple[list[str], list[str], list[list[tuple[str, bool]]]] | None:
    """(references, headers, rows of (cell, bold)) of the group's paired table; None when no row has a pair.
    Shared by LEADERBOARD.md and leaderboard.html."""
    refs = [s for s in (*REFERENCES, UNTRAINED) if any(s in r.get("paired", {}) for r in group["rows"])]
    if not refs:
        return None
    headers = ["system", *[h for s in refs for h in (f"− {s}", "95% CI", "n")]]
    rows = []
    for row in group["rows"]:
        pairs = row.get("paired", {})
        if not pairs:
            continue
        cells = [(label(group, row), False)]
        for s in refs:
            p = pairs.get(s)
            if p is None:
                cells += [("–", False)] * 3
                continue
            ci = "–" if p["ci95"] is None else f"{p['ci95'][0]:+.3f} – {p['ci95'][1]:+.3f}"
            cells += [(f"{p['change']:+.3f}", separates(p)), (ci, False), (str(p["n"]), False)]
        rows.append(cells)
    return refs, headers, rows


def render_paired_markdown(group: dict, label) -> list[str]:
    """The group's paired table as markdown lines, or []."""
    table = paired_table(group, label)
    if table is None:
        return []
    refs, headers, rows = table
    lines = ["", paired_intro(group, refs, lambda s: f"`{s}`"), "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for cells in rows:
        text = [(f"**{c}**" if bold else c).replace("|", "\\|") for c, bold in cells]
        lines.append("| " + " | ".join(text) + " |")
    return lines
