"""Leaderboards built from complete run records only: LEADERBOARD.md, leaderboard.json, leaderboard.png.

Same records in, byte-identical files out: everything is sorted explicitly, no timestamps or paths are
written, floats are rounded, and the chart is drawn without pyplot state and saved without metadata.

Rows. Runs sharing (task, model, system, resolved spec without the seed, n) are repeats of one
configuration under different seeds: they become one row whose numbers are means over the seeds, keeping
the count, the seeds and the accuracy range. A second run with the same seed as an earlier one replaces it (the newer record wins,
by `created`, then run id) and is listed as superseded, so a rerun is never counted twice.

Groups. One table (and chart panel) per task × model × protocol: the protocol is run.json's top-level
`protocol.name` (absent: discriminative), so likelihood scores are never ranked beside generated answers.
Model-free rows (model spec null: option-only heuristics such as longest-option) are shown in every model
group of their task, marked, because their point is comparison: they measure answer leakage in the options.
A model spec holding an absolute path (a checkpoint's base model) is named by its last two path parts, so no
title or file depends on the machine a run was made on.

Tables. Rows whose results are identical (same system, n, accuracy, per-type accuracy) are collapsed into one,
listing how many configurations it stands for; rows over fewer than SMALL_N questions are marked and listed
after the ranked ones, because their 95% interval is wider than ±0.2.
"""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from comam_bench.protocol import HEADLINE_NORM, NORMS
from comam_bench.record import RecordError, RunRecord, Scores
# Re-exported: readers (view/load.py, tests) import these names from here.
from comam_bench.leaderboard_runs import (DEFAULT_CHANCE, DEFAULT_PROTOCOL, LATENCY_FIELDS, SHORT_TYPES,  # noqa: F401
                                          MIN_CLUSTERS, SMALL_N, _config_hash, _cost_fields, _model_spec, _r,
                                          _run_entry, label, read_samples, row_interval, stable_model_name, title)
from comam_bench.scores import aggregate, cluster_key, group_by, type_order

log = logging.getLogger(__name__)

BOARD_VERSION = 5  # 2: groups carry the protocol; rows carry `collapsed`, `small_sample`; 3: rows carry
# per-phase tokens, p50/p95 seconds per phase and `name` (a readable system label); 4: rows carry `ci95_over`,
# `clusters` and `ci95_over_seeds` (leaderboard_runs.row_interval); 5: rows may carry `paired` (leaderboard_paired)
OPTION_ONLY_NOTE = (
    "† No model: an option-only heuristic (e.g. longest-option). It never reads the history, so its score "
    "measures answer leakage in the options; a memory system has to beat it to show that memory helps."
)
NORM_NOTE = (
    "Likelihood: accuracy is the `token` norm (the option with the best log-likelihood per token; PersonaMem's "
    "length-normalised headline; `acc_token` in the exported lm-eval task); `char` is per character (lm-eval's "
    "`acc_norm`) and `sum` unnormalised (lm-eval's `acc`). Records: `scores_by_norm`."
)
QUESTIONS_NOTE = (f"§ Interval over questions (Wilson): the row has fewer than {MIN_CLUSTERS} history × topic "
                  "clusters to resample, and its questions are not independent, so the interval is too narrow.")
SMALL_NOTE = (f"‡ Fewer than {SMALL_N} questions: the 95% interval is wider than ±0.2, so the row is listed "
              "unranked, after the others.")


# --------------------------------------------------------------------------- collecting records
def _load_run(run_dir: Path) -> tuple[RunRecord | None, str]:
    """The complete run record of one directory (migrated to the current format), or None and why it was ignored."""
    record_path = run_dir / "run.json"
    if not record_path.is_file():
        started = [n for n in ("spec.json", "samples.jsonl", "ingest.jsonl") if (run_dir / n).is_file()]
        if started:  # the runner writes run.json last, atomically: this run is running or was interrupted
            return None, f"in progress or interrupted: {', '.join(started)} but no run.json yet"
        return None, "no run.json"
    try:
        record = RunRecord.read(record_path, run_id=run_dir.name)
    except RecordError as e:
        return None, str(e)
    if record.status != "complete":
        return None, f"status is {record.status!r}, not 'complete'"
    if not record.scores.raw:
        # An older or hand-made record: the scores can be recomputed from the per-question samples.
        try:
            scores = aggregate(read_samples(run_dir / "samples.jsonl"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            return None, f"no scores in run.json and samples.jsonl unreadable ({type(e).__name__})"
        record = replace(record, scores=Scores(scores))
    elif not record.scores.clusters and record.scores.n:
        record = _with_clusters(record, run_dir / "samples.jsonl")
    return record, ""


def _with_clusters(record: RunRecord, samples_path: Path) -> RunRecord:
    """A record written before scores.by_context_topic existed, given its clusters from its own samples (in
    memory; the file is not touched). Unchanged when the samples cannot be read or do not match the scores."""
    try:
        samples = read_samples(samples_path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return record
    if len(samples) != record.scores.n:
        return record
    by_cluster = group_by(samples, cluster_key)  # as aggregate() writes it, without the rest of its scores
    return replace(record, scores=Scores({**record.scores.raw, "by_context_topic": by_cluster}))


def scan_runs(runs_dir: Path) -> tuple[list[RunRecord], list[dict]]:
    """(complete run records, [{"run": dir name, "reason": why ignored}]), both in directory-name order."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        return [], []
    runs, ignored = [], []
    for run_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        record, reason = _load_run(run_dir)
        if record is None:
            ignored.append({"run": run_dir.name, "reason": reason})
        else:
            runs.append(record)
    return runs, ignored


def collect_runs(runs_dir: Path) -> list[RunRecord]:
    """Complete run records under runs_dir; every ignored directory is logged with the reason."""
    runs, ignored = scan_runs(runs_dir)
    for item in ignored:
        log.warning("ignoring run %s: %s", item["run"], item["reason"])
    return runs


# --------------------------------------------------------------------------- one run -> row fields
# --------------------------------------------------------------------------- rows and groups
def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return _r(sum(known) / len(known)) if known else None


def _config_key(e: dict) -> tuple:
    return (e["task"], e["model"] or "", e["protocol"], e["system"], e["config_hash"], e["n"])


def _seed_order(seed: Any) -> tuple:
    # Integers numerically, anything else (null, strings) after them, by its JSON text.
    return (0, seed, "") if isinstance(seed, int) else (1, 0, json.dumps(seed))


def _latest_per_seed(entries: list[dict]) -> tuple[list[dict], list[str]]:
    """One entry per seed (the newest record wins); the run ids of the older ones."""
    by_seed: dict[tuple, list[dict]] = {}
    for e in entries:
        by_seed.setdefault(_seed_order(e["seed"]), []).append(e)
    kept, superseded = [], []
    for seed in sorted(by_seed):
        ordered = sorted(by_seed[seed], key=lambda e: (e["created"], e["run_id"]))
        kept.append(ordered[-1])
        superseded += [e["run_id"] for e in ordered[:-1]]
    return kept, sorted(superseded)


COST_FIELDS = ("calls_per_question", "tokens_per_question", "prompt_tokens_per_question",
               "completion_tokens_per_question", "ingest_tokens_per_question", "answer_tokens_per_question",
               "seconds_per_question", *LATENCY_FIELDS, "memory_items", "memory_tokens")


def _row(entries: list[dict]) -> dict[str, Any]:
    """One leaderboard row from the runs of one configuration (means over seeds)."""
    kept, superseded = _latest_per_seed(entries)
    kept.sort(key=lambda e: (_seed_order(e["seed"]), e["run_id"]))
    first, n = kept[0], kept[0]["n"]
    accs = [e["accuracy"] for e in kept]
    accuracy = _r(sum(accs) / len(accs))
    # One run: its own interval. Several seeds: the question-sampling interval at the mean accuracy (over
    # all their questions when each seed drew its own data: then n counts them all); the spread across
    # seeds is reported separately as accuracy_range.
    if len(kept) > 1 and all(e["data_per_seed"] for e in kept):
        n = sum(e["n"] for e in kept)
    spread = row_interval(kept, accuracy, n)
    types = sorted({t for e in kept for t in e["by_type"]}, key=type_order)
    row = {
        "system": first["system"], "name": first["name"], "model_free": first["model"] is None,
        "config_hash": first["config_hash"],
        "collapsed": 1, "config_hashes": [first["config_hash"]], "small_sample": n < SMALL_N,
        "spec_hashes": sorted({e["spec_hash"] for e in kept}),
        "run_id": kept[-1]["run_id"], "run_ids": sorted(e["run_id"] for e in kept), "superseded": superseded,
        "runs": len(kept), "seeds": [e["seed"] for e in kept], "n": n,
        "accuracy": accuracy, **spread, "accuracy_range": [_r(min(accs)), _r(max(accs))],
        "by_type": {t: _mean([e["by_type"].get(t) for e in kept]) for t in types},
        "accuracy_by_norm": {k: _mean([e["by_norm"].get(k) for e in kept]) for k in NORMS
                             if any(k in e["by_norm"] for e in kept)},
        "skipped": max(e["skipped"] for e in kept),
        "extraction_failures": _mean([e["extraction_failures"] for e in kept]),
    }
    for key in COST_FIELDS:  # percentiles too: the mean over seeds of each seed's p50 / p95
        row[key] = _mean([e[key] for e in kept])
    return row


def _row_order(row: dict) -> tuple:
    # Small samples after the ranked rows: a 4-question score is not ranked beside a 28-question one.
    return (row["small_sample"], -row["accuracy"], row["system"], row["config_hash"], row["run_id"])


def _result_key(row: dict) -> tuple:
    # By name: two checkpoints of one system with equal scores stay two rows, each named.
    return (row["name"], row["model_free"], row["n"], row["runs"], row["accuracy"], tuple(row["ci95"]),
            tuple(sorted(row["by_type"].items())), tuple(sorted(row.get("accuracy_by_norm", {}).items())))


MEAN_FIELDS = (*COST_FIELDS, "extraction_failures")


def _collapse(rows: list[dict]) -> list[dict]:
    """Rows of one system with identical results become one row (costs: the mean over them)."""
    alike: dict[tuple, list[dict]] = {}
    for row in sorted(rows, key=lambda r: (r["config_hash"], r["run_id"])):
        alike.setdefault(_result_key(row), []).append(row)
    out = []
    for same in alike.values():
        row = dict(same[0])
        if len(same) > 1:
            row.update(collapsed=len(same), config_hashes=[r["config_hash"] for r in same],
                       run_ids=sorted(i for r in same for i in r["run_ids"]),
                       superseded=sorted(i for r in same for i in r["superseded"]),
                       spec_hashes=sorted({h for r in same for h in r["spec_hashes"]}),
                       skipped=max(r["skipped"] for r in same))
            row.update({k: _mean([r[k] for r in same]) for k in MEAN_FIELDS})
        out.append(row)
    return out


COST_PNG = "leaderboard_cost.png"  # accuracy against tokens per question (leaderboard_cost.py)
REFERENCE_SYSTEM = "full-context"  # the cost every memory system is read against


def _relative_tokens(rows: list[dict]) -> None:
    """tokens/q over the full-context row's tokens/q of the same group (None when that row is missing)."""
    ref = [r["tokens_per_question"] for r in rows if r["system"] == REFERENCE_SYSTEM and r["tokens_per_question"]]
    for r in rows:
        r["tokens_vs_full_context"] = _r(r["tokens_per_question"] / ref[0]) if ref and r["tokens_per_question"] is not None else None


def _group(task: str, model: str | None, protocol: str, entries: list[dict], rows: list[dict]) -> dict[str, Any]:
    rows = sorted(_collapse(rows), key=_row_order)
    _relative_tokens(rows)
    return {
        "task": task,
        "size": next((e["size"] for e in entries if e["size"]), None),
        "model": model,
        "protocol": protocol,
        "chance": entries[0]["chance"] if entries else DEFAULT_CHANCE,
        "types": sorted({t for r in rows for t in r["by_type"]}, key=type_order),
        "rows": rows,
    }


def build_board(runs: list[RunRecord | dict], runs_dir: Path | None = None) -> dict[str, Any]:
    """Group complete runs by (task, model, protocol) into ranked rows; independent of the order of `runs`.
    A run given as a dict is read as a record (RunRecord.from_dict, migrated in memory). With `runs_dir` (the
    folder holding the runs' samples.jsonl), rows also get their paired differences against the table's
    no-memory and full-context rows (leaderboard_paired.add_paired)."""
    from comam_bench.leaderboard_open import build_open_groups, is_open_ended

    runs = [r if isinstance(r, RunRecord) else RunRecord.from_dict(r) for r in runs]
    open_groups = build_open_groups(runs)  # LoCoMo's F1 tables (leaderboard_open.py); never ranked by accuracy
    runs = [r for r in runs if not is_open_ended(r)]
    configs: dict[tuple, list[dict]] = {}
    for e in (_run_entry(r) for r in runs):
        configs.setdefault(_config_key(e), []).append(e)
    # (task, model, protocol) -> (entries, rows); model None holds the model-free rows of that task, which
    # join every model and protocol group of the task (a heuristic reads no model, so no protocol applies).
    cells: dict[tuple[str, str | None, str], tuple[list[dict], list[dict]]] = {}
    free: dict[str, tuple[list[dict], list[dict]]] = {}
    for key in sorted(configs):
        entries = configs[key]
        e = entries[0]
        cell = free.setdefault(e["task"], ([], [])) if e["model"] is None else \
            cells.setdefault((e["task"], e["model"], e["protocol"]), ([], []))
        cell[0].extend(entries)
        cell[1].append(_row(entries))
    groups = []
    for task in sorted({t for t, _, _ in cells} | set(free)):
        free_entries, free_rows = free.get(task, ([], []))
        keys = sorted(k for k in cells if k[0] == task)
        for key in keys:
            entries, rows = cells[key]
            groups.append(_group(task, key[1], key[2], entries + free_entries, rows + free_rows))
        if not keys:  # only model-free runs on this task: they still get a table
            protocol = free_entries[0]["protocol"] if free_entries else DEFAULT_PROTOCOL
            groups.append(_group(task, None, protocol, free_entries, free_rows))
    if runs_dir is not None:
        from comam_bench.leaderboard_paired import add_paired

        add_paired(groups, runs, runs_dir)
    board = {"format_version": BOARD_VERSION, "small_n": SMALL_N, "groups": groups}
    return {**board, "open_ended": open_groups} if open_groups else board


# --------------------------------------------------------------------------- formatting
def _fmt(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _fmt_int(x: float | None) -> str:
    return "–" if x is None else f"{x:,.0f}"


_title = title
_label = label


def ranks(group: dict) -> list[str]:
    """Rank numbers for the ranked rows, "–" for the small-sample rows listed after them."""
    out, k = [], 0
    for row in group["rows"]:
        k += not row.get("small_sample")
        out.append("–" if row.get("small_sample") else str(k))
    return out


def _run_cell(row: dict) -> str:
    if row["runs"] == 1 and row.get("collapsed", 1) == 1:
        return row["run_id"]
    return f"{len(row['run_ids'])} runs"


def _cells(group: dict, row: dict) -> list[str]:
    """A row's display cells, shared by the markdown and terminal tables."""
    # A model-free heuristic picks one letter whatever the normalisation: its accuracy stands for each.
    by_norm = row.get("accuracy_by_norm") or ({k: row["accuracy"] for k in NORMS} if row["model_free"] else {})
    norms = [_fmt(by_norm.get(k)) for k in _other_norms(group)]
    return [
        _label(group, row), str(row["n"]), _fmt(row["accuracy"]), _ci_cell(row), *norms,
        *[_fmt(row["by_type"].get(t)) for t in group["types"]],
        _fmt(row["calls_per_question"], 2), _fmt_int(row["tokens_per_question"]),
        _fmt_int(row.get("ingest_tokens_per_question")), _fmt_int(row.get("answer_tokens_per_question")),
        _fmt(row.get("tokens_vs_full_context"), 2), _fmt(row["seconds_per_question"], 2),
        _p50_p95(row, "ingest"), _p50_p95(row, "answer"),
        _fmt_int(row["memory_items"]), _fmt_int(row["memory_tokens"]), str(row["skipped"]),
        str(row["runs"]), _run_cell(row),
    ]


def _ci_cell(row: dict) -> str:
    """`low–high`; § where the interval is over questions (QUESTIONS_NOTE), not over resampled topics."""
    lo, hi = row["ci95"]
    return f"{lo:.3f}–{hi:.3f}" + (" §" if row.get("ci95_over") == "questions" else "")


def _p50_p95(row: dict, phase: str) -> str:
    """`p50 / p95` seconds per question of one phase; – where the records hold no latency."""
    p50, p95 = row.get(f"{phase}_p50_seconds"), row.get(f"{phase}_p95_seconds")
    return "–" if p50 is None and p95 is None else f"{_fmt(p50, 2)} / {_fmt(p95, 2)}"


def _other_norms(group: dict) -> list[str]:
    """The normalisations shown beside the headline one: likelihood groups only."""
    return [k for k in NORMS if k != HEADLINE_NORM] if group.get("protocol") == "likelihood" else []


def accuracy_header(group: dict) -> str:
    return f"accuracy ({HEADLINE_NORM})" if group.get("protocol") == "likelihood" else "accuracy"


def _headers(group: dict) -> list[str]:
    return ["system", "n", accuracy_header(group), "95% CI", *_other_norms(group),
            *[SHORT_TYPES.get(t, t) for t in group["types"]],
            "calls/q", "tokens/q", "ingest tok/q", "answer tok/q", "× full-ctx", "s/q", "ingest s p50 / p95",
            "answer s p50 / p95", "mem items", "mem tokens", "skipped", "seeds", "run"]


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(board: dict) -> str:
    """LEADERBOARD.md: one ranked table per task × model × protocol group, with chance level and legends."""
    from comam_bench.leaderboard_cost import cost_groups
    from comam_bench.leaderboard_paired import render_paired_markdown

    lines = ["# comam-bench leaderboard", "",
             "Generated by `comam-bench leaderboard` from complete run records only (`runs/*/run.json` beside this file).",
             "Accuracy on PersonaMem's 4-option multiple choice. 95% CI: whole history × topic clusters resampled "
             "(a percentile bootstrap; a topic's questions share their evidence, so questions are not independent "
             "draws); § marks a row with too few clusters, whose interval is Wilson over questions. With several "
             "seeds, leaderboard.json also holds `ci95_over_seeds` (Student t over the seed accuracies).",
             "n = questions scored; seeds = how many seeds the row averages (means over them); costs are per "
             "question (tokens = prompt + completion, in all and per phase: ingest tok/q builds memory, answer "
             "tok/q answers; × full-ctx = tokens/q over the full-context row's tokens/q in the same table; s/q = "
             "ingest + answer wall time). p50 / p95 = median and 95th percentile of a question's wall seconds in "
             "that phase (numpy's linear percentile; ingestion counted for the first question that needed it, "
             "see docs/records.md; the mean over seeds of each seed's percentile). One table per task · model · "
             "protocol.", "",
             "![accuracy per system with 95% intervals](leaderboard.png)", "",
             *([f"![accuracy against LLM tokens per question, one point per system]({COST_PNG})", ""]
               if cost_groups(board) else []),
             "Type columns: " + "; ".join(f"{s} = `{t}`" for t, s in SHORT_TYPES.items()) + ".", ""]
    if not board["groups"] and not board.get("open_ended"):
        lines += ["No complete runs yet.", ""]
    for group in board["groups"]:
        headers = _headers(group)
        lines += [f"## {_title(group)}", "", f"Chance level: {group['chance']:.2f}.", "",
                  "| # | " + " | ".join(headers) + " |", "|" + "---|" * (len(headers) + 1)]
        for rank, row in zip(ranks(group), group["rows"]):
            lines.append(f"| {rank} | " + " | ".join(_md_escape(c) for c in _cells(group, row)) + " |")
        notes = [NORM_NOTE] * bool(_other_norms(group)) + [OPTION_ONLY_NOTE] * any(r["model_free"] for r in group["rows"]) + \
            [SMALL_NOTE] * any(r.get("small_sample") for r in group["rows"]) + \
            [QUESTIONS_NOTE] * any(r.get("ci95_over") == "questions" for r in group["rows"])
        lines += [x for note in notes for x in ("", note)]
        if any(r.get("collapsed", 1) > 1 for r in group["rows"]):
            lines += ["", "×k configs: k configurations with identical results, shown once (costs are their mean)."]
        lines += render_paired_markdown(group, _label)
        lines.append("")
    from comam_bench.leaderboard_open import render_open_markdown

    lines += render_open_markdown(board.get("open_ended") or [])
    return "\n".join(lines)


def render_terminal(board: dict) -> list:
    """One rich Table per group, for the CLI."""
    from rich.table import Table

    # A terminal is narrow: the headline columns only; per-type accuracy lives in LEADERBOARD.md and the chart.
    tables = []
    for group in board["groups"]:
        keep = ("system", "n", accuracy_header(group), "95% CI", *_other_norms(group), "calls/q", "tokens/q",
                "× full-ctx", "s/q", "ingest s p50 / p95", "answer s p50 / p95", "mem items", "skipped")
        headers = _headers(group)
        picks = [headers.index(h) for h in keep]
        table = Table(title=f"{_title(group)}  (chance {group['chance']:.2f})")
        for i, header in enumerate(["#", *keep]):
            table.add_column(header, justify="left" if i in (0, 1) else "right")
        for rank, row in zip(ranks(group), group["rows"]):
            cells = _cells(group, row)
            table.add_row(rank, *[cells[i] for i in picks])
        tables.append(table)
    from comam_bench.leaderboard_open import render_open_terminal

    return tables + render_open_terminal(board.get("open_ended") or [])


def write_outputs(board: dict, out_dir: Path) -> dict[str, Path]:
    """Write LEADERBOARD.md, leaderboard.json, leaderboard.png and, where there is something to draw,
    leaderboard_by_type.png and leaderboard_cost.png under out_dir; returns their paths."""
    from comam_bench.leaderboard_chart import render_by_type, render_chart
    from comam_bench.leaderboard_cost import render_cost

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "LEADERBOARD.md", "json": out_dir / "leaderboard.json",
             "png": out_dir / "leaderboard.png", "png_by_type": out_dir / "leaderboard_by_type.png",
             "png_cost": out_dir / COST_PNG}
    paths["markdown"].write_text(render_markdown(board), encoding="utf-8", newline="\n")
    paths["json"].write_text(json.dumps(board, sort_keys=True, indent=2, ensure_ascii=False) + "\n",
                             encoding="utf-8", newline="\n")
    render_chart(board, paths["png"])
    if not render_by_type(board, paths["png_by_type"]):
        paths.pop("png_by_type").unlink(missing_ok=True)  # an older figure would describe other records
    if not render_cost(board, paths["png_cost"]):
        paths.pop("png_cost").unlink(missing_ok=True)
    return paths
