"""The leaderboard's open-ended tables (LoCoMo): F1 with its bootstrap interval, per category, BLEU-1, judge.

Built from complete open-ended run records only (protocol.name "open-ended"), one table per task × model,
model-free rows (the not-mentioned floor) shown in every model table of their task, as leaderboard.py does
for option-only heuristics. A configuration (system, resolved spec without the seed, n) is one row; the
newest record per seed counts, and several seeds are averaged (their interval is then the range over seeds).
"""
from __future__ import annotations

from typing import Any

from comam_bench.leaderboard_runs import _config_hash, _cost_fields, _model_spec
from comam_bench.record import RunRecord

CATEGORY_COLUMNS = (("multi-hop", "1 multi-hop"), ("temporal", "2 temporal"), ("open-domain", "3 open-dom."),
                    ("single-hop", "4 single-hop"), ("adversarial", "5 advers."))
NOTE = ("F1 = LoCoMo's official token F1 (Porter-stemmed; category 1 comma-split, 3 cut at ';', 5 = says \"not "
        "mentioned\"); 95% CI = bootstrap over conversations (one conversation: no interval, shown as a point); "
        "cat 1-4 = F1 without the adversarial category; J = LLM-judge accuracy (judge model and prompt hash "
        "below the table), – when no judge was run. † no model.")


def is_open_ended(run: RunRecord) -> bool:
    return run.protocol.name == "open-ended"


def _entry(run: RunRecord) -> dict[str, Any]:
    s = run.scores
    overall = s.overall or {}
    n = int(overall.get("n") or 0)
    judge = run.protocol.judge
    return {
        "task": run.task.name, "model": _model_spec(run),
        "system": run.system.name, "config_hash": _config_hash(run),
        "run_id": run.run_id, "created": run.created, "seed": run.seed, "n": n,
        "n_contexts": s.raw.get("n_contexts"), "f1": overall.get("f1"), "ci95": overall.get("ci95"),
        "f1_1_4": s.block("categories_1_4").get("f1"), "bleu1": overall.get("bleu1"),
        "by_category": {k: v.get("f1") for k, v in s.block("by_category").items()},
        "judge": (overall.get("judge") or {}).get("accuracy"),
        "judge_name": f"{judge['model']} (prompt {judge['prompt_sha256'][:12]})" if judge else None,
        **_cost_fields(run, n),
    }


def _mean(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return round(sum(known) / len(known), 4) if known else None


def _row(entries: list[dict]) -> dict[str, Any]:
    newest: dict[str, dict] = {}
    for e in sorted(entries, key=lambda e: (e["created"], e["run_id"])):
        newest[repr(e["seed"])] = e
    kept = sorted(newest.values(), key=lambda e: e["run_id"])
    first = kept[0]
    f1s = [e["f1"] for e in kept]
    ci = first["ci95"] if len(kept) == 1 else [min(f1s), max(f1s)]
    row = {"system": first["system"], "model_free": first["model"] is None, "config_hash": first["config_hash"],
           "n": first["n"], "n_contexts": first["n_contexts"], "runs": len(kept), "run_id": kept[-1]["run_id"],
           "f1": _mean(f1s), "ci95": ci, "judge_name": first["judge_name"],
           "by_category": {c: _mean([e["by_category"].get(c) for e in kept]) for c, _ in CATEGORY_COLUMNS}}
    for key in ("f1_1_4", "bleu1", "judge", "calls_per_question", "tokens_per_question", "seconds_per_question"):
        row[key] = _mean([e[key] for e in kept])
    return row


def build_open_groups(runs: list[RunRecord]) -> list[dict[str, Any]]:
    """[{task, model, protocol, rows}] for the open-ended runs, rows ranked by F1 (ties by system name)."""
    configs: dict[tuple, list[dict]] = {}
    for e in (_entry(r) for r in runs if is_open_ended(r)):
        configs.setdefault((e["task"], e["model"] or "", e["system"], e["config_hash"], e["n"]), []).append(e)
    cells: dict[tuple, list[dict]] = {}
    free: dict[str, list[dict]] = {}
    for key in sorted(configs):
        row = _row(configs[key])
        target = free.setdefault(key[0], []) if row["model_free"] else cells.setdefault((key[0], key[1]), [])
        target.append(row)
    groups = []
    for task in sorted({t for t, _ in cells} | set(free)):
        models = sorted(m for t, m in cells if t == task) or [None]
        for model in models:
            rows = cells.get((task, model), []) + free.get(task, [])
            rows.sort(key=lambda r: (-(r["f1"] or 0.0), -r["n"], r["system"], r["config_hash"]))
            groups.append({"task": task, "model": model, "protocol": "open-ended", "rows": rows})
    return groups


def _f(x: float | None, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


HEADERS = ["system", "n", "convs", "F1", "95% CI", "cat 1-4", *[h for _, h in CATEGORY_COLUMNS], "BLEU-1", "J",
           "calls/q", "tokens/q", "s/q", "run"]


def cells(row: dict) -> list[str]:
    """A row's display cells (markdown and terminal)."""
    lo, hi = row["ci95"] or (None, None)
    return [row["system"] + (" †" if row["model_free"] else ""), str(row["n"]), str(row["n_contexts"]),
            _f(row["f1"]), f"{_f(lo)}–{_f(hi)}", _f(row["f1_1_4"]),
            *[_f(row["by_category"].get(c)) for c, _ in CATEGORY_COLUMNS], _f(row["bleu1"]), _f(row["judge"]),
            _f(row["calls_per_question"], 2), _f(row["tokens_per_question"], 0), _f(row["seconds_per_question"], 2),
            row["run_id"] if row["runs"] == 1 else f"{row['runs']} runs"]


def render_open_markdown(groups: list[dict]) -> list[str]:
    """The markdown sections of the open-ended groups (empty when there are none)."""
    lines: list[str] = []
    for g in groups:
        lines += [f"## {g['task']} · {g['model'] or 'no model'} · open-ended", "", NOTE, "",
                  "| # | " + " | ".join(HEADERS) + " |", "|" + "---|" * (len(HEADERS) + 1)]
        for rank, row in enumerate(g["rows"], 1):
            lines.append(f"| {rank} | " + " | ".join(c.replace("|", "\\|") for c in cells(row)) + " |")
        judges = sorted({r["judge_name"] for r in g["rows"] if r["judge_name"]})
        lines += ["", "Judge: " + "; ".join(judges) + "." if judges else "Judge: none run.", ""]
    return lines


def render_open_terminal(groups: list[dict]) -> list:
    from rich.table import Table

    keep = ("system", "n", "F1", "95% CI", "cat 1-4", "BLEU-1", "J", "calls/q", "s/q")
    tables = []
    for g in groups:
        table = Table(title=f"{g['task']} · {g['model'] or 'no model'} · open-ended (F1)")
        for i, header in enumerate(["#", *keep]):
            table.add_column(header, justify="left" if i in (0, 1) else "right")
        for rank, row in enumerate(g["rows"], 1):
            c = cells(row)
            table.add_row(str(rank), *[c[HEADERS.index(h)] for h in keep])
        tables.append(table)
    return tables
