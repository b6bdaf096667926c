"""The cost model's arithmetic, apart from any measuring (pure functions; tests/test_cost_fit.py works
them on hand-made numbers).

A measurement (benchmarks/cost_model.py) is one run of a system on the first questions of a preset:
its process CPU seconds and wall seconds, the wall seconds of its ingest and answer phases, the LLM
calls and tokens of each phase, the ingestion steps (sessions opened, sessions before, wall seconds)
and the answered questions (prompt tokens, wall seconds).
"""
from __future__ import annotations

from typing import Sequence

PHASES = ("ingest", "answer")
KINDS = ("calls", "prompt_tokens", "completion_tokens")
# Answer prompts that carry the history prefix itself, truncated to the window: their per-question cost
# is predicted from prompt tokens, not from the (short) prefixes of the sampled first questions.
PREFIX_BOUND = {"full-context", "recency"}


def split_cpu(cpu_s: float, wall_s: float, phase_wall: dict[str, float]) -> dict[str, float]:
    """Process CPU split over startup, ingest and answer in proportion to their wall seconds."""
    if wall_s <= 0:
        raise ValueError("wall_s must be positive")
    share = {p: min(phase_wall.get(p, 0.0), wall_s) / wall_s for p in PHASES}
    startup = max(0.0, 1.0 - sum(share.values()))
    return {"startup": cpu_s * startup, **{p: cpu_s * share[p] for p in PHASES}}


def line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """Least-squares intercept and slope; slope 0 when the xs do not vary."""
    n = len(xs)
    if n == 0:
        raise ValueError("no points")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return my, 0.0
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    return my - slope * mx, slope


def growth(steps: Sequence[dict]) -> float:
    """Relative growth of a session's ingest cost per session already in memory: the slope of wall
    seconds per session against sessions before, over the mean (0 with fewer than 3 steps that called
    the LLM: the others' steps take milliseconds, and noise is not growth)."""
    points = [(s["sessions_before"], s["wall_s"] / s["sessions"]) for s in steps
              if s["sessions"] > 0 and s["calls"] > 0]
    if len(points) < 3:
        return 0.0
    mean = sum(y for _, y in points) / len(points)
    if mean <= 0:
        return 0.0
    _, slope = line([x for x, _ in points], [y for _, y in points])
    return slope / mean


def fit(m: dict) -> dict:
    """Per-session and per-question rates of one system from one measurement."""
    cpu = split_cpu(m["cpu_s"], m["wall_s"], m["phase_wall_s"])
    sessions, questions = max(m["sessions"], 1), max(m["questions"], 1)
    rates = {"startup_cpu_s": cpu["startup"],
             "per_session": {"cpu_s": cpu["ingest"] / sessions,
                             **{k: m["phases"]["ingest"][k] / sessions for k in KINDS}},
             "per_message": {"cpu_s": cpu["ingest"] / max(m["messages"], 1),
                             "calls": m["phases"]["ingest"]["calls"] / max(m["messages"], 1)},
             "per_question": {"cpu_s": cpu["answer"] / questions,
                              **{k: m["phases"]["answer"][k] / questions for k in KINDS}},
             "growth_per_session": growth(m.get("steps", [])),
             "cpu_per_wall": m["cpu_s"] / m["wall_s"], "wall_s": m["wall_s"], "cpu_s": m["cpu_s"]}
    rows = [q for q in m.get("question_rows", []) if q["prompt_tokens"] > 0]
    tokens = sum(q["prompt_tokens"] for q in rows)
    if m["system"] in PREFIX_BOUND and tokens > 0:
        # CPU per answer-prompt token (answer CPU shared out by tokens), to scale to window-long prompts
        rates["answer_cpu_per_prompt_token"] = cpu["answer"] / tokens
    return rates


def fit_all(measurements: Sequence[dict]) -> dict[str, dict]:
    """fit() of every measurement, by system name."""
    return {m["system"]: fit(m) for m in measurements}


def predict(rates: dict, shape: dict) -> dict:
    """CPU seconds and LLM tokens for one seed of a task shape {sessions, questions, answer_prompt_tokens}.

    Ingestion: sessions x per_session x (1 + g x (S - 1) / 2), the mean of a cost growing by g per session
    already ingested, relative to the sampled early sessions (g from `growth`). Answering: questions x
    per_question, or for prefix-bound systems the window-long prompt at the measured CPU per token."""
    s, q = shape["sessions"], shape["questions"]
    g = max(rates["growth_per_session"], 0.0)
    ingest_factor = 1 + g * (s - 1) / 2
    ingest = s * rates["per_session"]["cpu_s"] * ingest_factor
    per_q = rates["per_question"]["cpu_s"]
    prompt = rates["per_question"]["prompt_tokens"]
    if "answer_cpu_per_prompt_token" in rates:
        prompt = shape["answer_prompt_tokens"]
        per_q = rates["answer_cpu_per_prompt_token"] * prompt
    answer = q * per_q
    tokens = (s * ingest_factor * (rates["per_session"]["prompt_tokens"] + rates["per_session"]["completion_tokens"])
              + q * (prompt + rates["per_question"]["completion_tokens"]))
    total = rates["startup_cpu_s"] + ingest + answer
    return {"ingest_cpu_s": round(ingest, 1), "answer_cpu_s": round(answer, 1), "cpu_s": round(total, 1),
            "minutes_on_2_cores": round(total / 60, 1), "llm_calls": round(
                s * ingest_factor * rates["per_session"]["calls"] + q * rates["per_question"]["calls"]),
            "llm_tokens": round(tokens), "ingest_growth_factor": round(ingest_factor, 2)}


def render_markdown(report: dict) -> str:
    """The committed table: rates and the per-seed prediction, one row per system."""
    shape = report["target_shape"]
    out = ["# Cost model (generated by benchmarks/cost_model.py; do not edit)", "",
           f"Sampled: preset `{report['preset']}`, seed {report['seed']}, the first questions of its history, "
           "likelihood protocol, embedded SmolLM2-135M on a shared 2-core CPU. CPU = user + sys of the run's "
           "process, split over phases by their wall times.", "",
           f"Prediction per seed: {shape['sessions']} sessions, {shape['questions']} questions, "
           f"history-bound answer prompts of {shape['answer_prompt_tokens']} tokens.", "",
           "| system | CPU s / session | calls / session | tokens / session | growth / session | "
           "CPU s / question | calls / question | prompt tokens / question | startup CPU s | "
           "predicted CPU min / seed | predicted LLM tokens / seed |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in report["rates"].items():
        p, ps, pq = report["predicted_per_seed"][name], r["per_session"], r["per_question"]
        out.append(f"| {name} | {ps['cpu_s']:.2f} | {ps['calls']:.2f} | "
                   f"{ps['prompt_tokens'] + ps['completion_tokens']:.0f} | {r['growth_per_session']:+.3f} | "
                   f"{pq['cpu_s']:.2f} | {pq['calls']:.2f} | {pq['prompt_tokens']:.0f} | "
                   f"{r['startup_cpu_s']:.1f} | {p['minutes_on_2_cores']:.1f} | {p['llm_tokens']} |")
    if report["not_measured"]:
        out += ["", "Not measured: " + "; ".join(f"`{s}` ({why})" for s, why in report["not_measured"].items())]
    return "\n".join(out) + "\n"
