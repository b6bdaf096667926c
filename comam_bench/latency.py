"""Per-question latency and tokens by phase (ingest, answer), and their p50/p95: the record's `cost.latency`.

The peer harnesses (vectorize-io's agent-memory-benchmark, MemOS's evaluation) report per-phase latency
percentiles and tokens beside accuracy; this is the same view of a run, computed from the rows the runner
already writes (ingest.jsonl: one row per memory-building step; samples.jsonl: one row per question).

Attribution of ingestion to questions ("first-needed"). Memory is built incrementally: before the questions
at end index e of a context are answered, the history is ingested up to e, in one or more steps (an ingest
row `context:start:end`). A step belongs to the first question, in the context's answering order (end index,
then run order), whose end index is at or past the step's end: the question that could not be answered
until that step was done. Other questions at the same end index find memory ready and wait 0 s for it.
Why this rule and not an even spread over the questions sharing a step: it is the latency a user would see
if the history arrived as it does in the run (the first query after new messages pays for digesting them),
its p95 shows the catch-up cost that an even spread would average away, and it still sums, over the
questions, to the run's total ingest time and tokens (so the mean per question equals cost.per_question's).
Steps of a context with no answered question (none in a complete run) belong to no question.

Answer time per question is the sample's `cost.seconds`: the wall time of its answer batch over the batch
size (the runner cannot split one batched call), scoring included.

Percentiles: linear interpolation between the closest ranks (numpy's default `method="linear"`, Hyndman
and Fan's type 7): for sorted x_0..x_{n-1}, p -> x_i + f (x_{i+1} - x_i) with i + f = p (n - 1).
"""
from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, Sequence

ATTRIBUTION = "first-needed"
PERCENTILE_METHOD = "linear"  # numpy.percentile's default
PERCENTILES = (50, 95)
DIGITS = 4


def percentile(values: Sequence[float], p: float) -> float | None:
    """The p-th percentile (0-100) by linear interpolation (numpy's default); None for no values."""
    xs = sorted(float(v) for v in values)
    if not xs:
        return None
    h = (len(xs) - 1) * p / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


def _tokens(cost: Mapping[str, Any]) -> float:
    return float(cost.get("prompt_tokens") or 0) + float(cost.get("completion_tokens") or 0)


def per_question(events: Iterable[Mapping[str, Any]], samples: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """One {question_id, ingest_seconds, answer_seconds, ingest_tokens, answer_tokens} per sample, in the
    samples' order, ingestion attributed first-needed (see the module docstring)."""
    steps: dict[str, list[Mapping[str, Any]]] = {}
    for ev in events:
        steps.setdefault(str(ev["context_id"]), []).append(ev)
    for cid in steps:
        steps[cid].sort(key=lambda ev: (ev["end"], ev["start"], str(ev.get("key", ""))))
    taken = {cid: 0 for cid in steps}  # how many of the context's steps earlier questions claimed
    order = sorted(range(len(samples)), key=lambda i: (str(samples[i]["context_id"]), samples[i].get("end_index") or 0, i))
    out: list[dict[str, float]] = [{} for _ in samples]
    for i in order:
        s = samples[i]
        cid, end = str(s["context_id"]), s.get("end_index") or 0
        mine = []
        queue = steps.get(cid, [])
        while taken.get(cid, 0) < len(queue) and queue[taken[cid]]["end"] <= end:
            mine.append(queue[taken[cid]])
            taken[cid] += 1
        cost = s.get("cost") or {}
        out[i] = {"question_id": s.get("question_id"),
                  "ingest_seconds": sum(float(ev.get("wall_seconds") or 0) for ev in mine),
                  "answer_seconds": float(cost.get("seconds") or 0),
                  "ingest_tokens": sum(_tokens(ev.get("cost") or {}) for ev in mine),
                  "answer_tokens": _tokens(cost)}
    return out


def _stats(values: list[float]) -> dict[str, float | None]:
    out: dict[str, float | None] = {"mean": round(sum(values) / len(values), DIGITS) if values else None}
    for p in PERCENTILES:
        x = percentile(values, p)
        out[f"p{p}"] = None if x is None else round(x, DIGITS)
    return out


def summary(events: Iterable[Mapping[str, Any]], samples: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The record's `cost.latency`: per-question seconds (ingest, answer, total) and tokens (ingest, answer,
    total), each as mean, p50 and p95 over the run's questions; None for a run without questions."""
    rows = per_question(events, samples)
    if not rows:
        return None
    ingest_s = [r["ingest_seconds"] for r in rows]
    answer_s = [r["answer_seconds"] for r in rows]
    ingest_t = [r["ingest_tokens"] for r in rows]
    answer_t = [r["answer_tokens"] for r in rows]
    return {
        "attribution": ATTRIBUTION, "percentiles": PERCENTILE_METHOD, "n": len(rows),
        # `seconds`: a key the record-identity check masks (timings differ between reruns), tokens do not.
        "seconds": {"ingest": _stats(ingest_s), "answer": _stats(answer_s),
                    "total": _stats([a + b for a, b in zip(ingest_s, answer_s)])},
        "tokens": {"ingest": _stats(ingest_t), "answer": _stats(answer_t),
                   "total": _stats([a + b for a, b in zip(ingest_t, answer_t)])},
    }
