"""A measured cost model per system: what one ingested session and one answered question cost.

Each system runs through the real CLI (`comam-bench run --protocol likelihood`, embedded SmolLM2 and
MiniLM) on the first questions of a synthetic preset (on its last ones for the systems whose answer prompt
fills the window: see LATE), in a child process whose CPU time (user + sys,
from getrusage) is taken around it: on a shared machine CPU seconds are steadier than wall. The run
record gives the LLM calls and tokens of each phase (ingest, answer) and the phase wall times;
ingest.jsonl gives every ingestion step, so the cost of a session can be compared early and late in
the history (growth). The process CPU is split over startup, ingest and answer in proportion to their
wall times (the record times the phases, not their CPU; under steady contention the share is even).

Fitted per system:  cost(preset) = sessions x per_session + questions x per_question  (+ startup),
per_session growing linearly with the number of sessions already ingested where a system's steps
grow (`growth_per_session`, from a least-squares line through the steps); per_question for systems whose
answer prompt grows with the history prefix (full-context, recency) scales with prompt tokens instead.

Each system's measurement is cached as JSON under --cache (default my-results/cost_model/), so an
interrupted or partial run resumes: `--systems` picks some; measured ones are skipped unless --remeasure,
failed or cut-short ones are tried again.
The fit and the tables are written from whatever is cached:

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/cost_model.py --budget-min 60
    .venv/bin/python benchmarks/cost_model.py --fit-only      # rewrite the tables from the cache
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cost_fit import cpu_per_generated_token, estimate, fit_all, predict, render_markdown  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Cheap systems first: they finish in minutes and give the answer-side rates; then the ones that call
# the LLM while ingesting, fewest ingestion calls first (as on personamem-mini), so a short budget measures
# the most systems; the rag variants (rag's cost, another index) last.
SYSTEMS = (
    "longest-option", "longest-option-sni", "no-memory", "oracle-evidence", "full-context", "recency", "rag",
    "mem1", "cam", "memory-r1", "comam", "memorybank", "mem0", "memoryos", "a-mem",
    "comam-no-extraction", "comam-no-profile", "comam-no-retrieval",
    "rag-bm25", "rag-hybrid", "rag-session", "rag-turn",
)
# Questions sampled per system: more for the cheap ones.
LIMITS = {"longest-option": 20, "longest-option-sni": 20, "no-memory": 6, "oracle-evidence": 6}
DEFAULT_LIMIT = 2
# Their answer prompt is the history (or chunks of it) up to the answer budget, i.e. it grows with the
# prefix until the window is full: sampled on the preset's LAST questions (a questions file of those alone),
# so each answer reads a window-long prompt and the ingestion (no LLM call) covers the whole history.
LATE = {"full-context": 4, "recency": 4, "rag": 4, "rag-bm25": 4, "rag-hybrid": 4, "rag-session": 4,
        "rag-turn": 4}


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "comam_bench.cli.main", *args]


def child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def ensure_data(preset: str, seed: int, root: Path) -> Path:
    """The preset's files for a seed, generated once through the CLI."""
    out = root / f"{preset}-s{seed}"
    if not (out / f"questions_{preset}.csv").exists():
        subprocess.run(cli("data", "generate", "--preset", preset, "--seed", str(seed), "--out", str(out)),
                       check=True, cwd=ROOT)
    return out


def late_data(data: Path, preset: str, n: int) -> Path:
    """A copy of the preset's files whose questions file keeps only the n questions asked last."""
    out = data.parent / f"{data.name}-last{n}"
    if not (out / f"questions_{preset}.csv").exists():
        out.mkdir(parents=True, exist_ok=True)
        for name in (f"shared_contexts_{preset}.jsonl", f"evidence_{preset}.jsonl"):
            (out / name).write_bytes((data / name).read_bytes())
        with open(data / f"questions_{preset}.csv", encoding="utf-8", newline="") as f:
            header, *rows = list(csv.reader(f))
        end = header.index("end_index_in_shared_context")
        last = set(map(id, sorted(rows, key=lambda r: int(r[end]))[-n:]))
        with open(out / f"questions_{preset}.csv", "w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows([header, *(r for r in rows if id(r) in last)])
    return out


def model_dir(cache: Path, model: str) -> Path:
    """Where one model spec's measurements are cached (a folder per spec: `smollm2,window=2048`...)."""
    return cache / "measurements" / re.sub(r"[^\w.-]+", "_", model)


def run_system(system: str, task: str, data: Path, seed: int, limit: int, results: Path,
               timeout: float, model: str) -> dict:
    """One CLI run; returns its CPU and wall seconds and where the record is (or why there is none)."""
    run_id = f"cost--{system}--" + re.sub(r"[^\w.-]+", "_", model)
    cmd = cli("run", "--system", system, "--task", task, "--data-dir", str(data), "--seed", str(seed),
              "--model", model,
              "--limit", str(limit), "--protocol", "likelihood", "--results-dir", str(results),
              "--run-id", run_id, "--overwrite", "--no-keep-memory")
    cpu0, wall0 = child_cpu(), time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}: {proc.stderr.strip()[-400:]}"
    except subprocess.TimeoutExpired:
        status = f"timed out after {timeout:.0f} s"
    return {"status": status, "cpu_s": round(child_cpu() - cpu0, 2),
            "wall_s": round(time.monotonic() - wall0, 2), "run_dir": str(results / "runs" / run_id)}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def session_starts(contexts_file: Path) -> dict[str, list[int]]:
    """Per context id, the indices of its session-opening (system persona) messages."""
    starts = {}
    for line in contexts_file.read_text().splitlines():
        (cid, msgs), = json.loads(line).items()
        starts[cid] = [i for i, m in enumerate(msgs) if m["role"] == "system"]
    return starts


def measurement(system: str, run: dict, starts: dict[str, list[int]]) -> dict:
    """The numbers the fit needs from one finished run: phase totals, ingestion steps, question rows."""
    rdir = Path(run["run_dir"])
    record = json.loads((rdir / "run.json").read_text())
    cost = record["cost"]
    steps = []
    for row in read_jsonl(rdir / "ingest.jsonl"):
        opened = [s for s in starts[row["context_id"]] if row["start"] <= s < row["end"]]
        before = sum(s < row["start"] for s in starts[row["context_id"]])
        steps.append({"start": row["start"], "end": row["end"], "sessions": len(opened),
                      "sessions_before": before, "wall_s": row["wall_seconds"], **row["cost"]})
    questions = [{"end_index": r["end_index"], "wall_s": r["cost"]["seconds"],
                  "prompt_tokens": r["cost"]["prompt_tokens"], "completion_tokens": r["cost"]["completion_tokens"],
                  "calls": r["cost"]["calls"]} for r in read_jsonl(rdir / "samples.jsonl")]
    last = max((q["end_index"] for q in questions), default=0)
    cid = json.loads((rdir / "samples.jsonl").read_text().splitlines()[0])["context_id"]
    return {"system": system, "cpu_s": run["cpu_s"], "wall_s": run["wall_s"],
            "messages": last, "sessions": sum(s < last for s in starts[cid]), "questions": len(questions),
            "phase_wall_s": {p: cost["wall_seconds"][p] for p in ("ingest", "answer")},
            "phases": {p: {k: cost[p][k] for k in ("calls", "prompt_tokens", "completion_tokens")}
                       for p in ("ingest", "answer")},
            "steps": steps, "question_rows": questions, "run_id": record["run_id"],
            "model": record["model"]["spec"], "data_files": record["data"]["files"]}


def measure_all(args: argparse.Namespace) -> None:
    """Measure every asked-for system not cached yet, within the time budget."""
    data = ensure_data(args.preset, args.seed, args.cache / "data")
    starts = session_starts(data / f"shared_contexts_{args.preset}.jsonl")
    deadline = time.monotonic() + 60 * args.budget_min
    for system in args.systems:
        out = model_dir(args.cache, args.model) / f"{system}.json"
        if out.exists() and json.loads(out.read_text())["status"] == "ok" and not args.remeasure:
            print(f"= {system}: cached")
            continue
        left = deadline - time.monotonic()
        if left < 60:
            print(f"- {system}: no time left in the budget")
            continue
        limit = LATE.get(system) or LIMITS.get(system, args.limit)
        sample = "last" if system in LATE else "first"
        where = late_data(data, args.preset, limit) if system in LATE else data
        print(f"+ {system} ({sample} {limit} questions, up to {min(left, args.timeout):.0f} s)", flush=True)
        run = run_system(system, f"synthetic-{args.preset}", where, args.seed, limit, args.cache,
                         min(left, args.timeout), args.model)
        result = {"system": system, "status": run["status"], "cpu_s": run["cpu_s"], "wall_s": run["wall_s"],
                  "limit": limit, "sample": sample, "preset": args.preset, "seed": args.seed,
                  "model": args.model, "load_avg": os.getloadavg()}
        if run["status"] == "ok":
            result.update(measurement(system, run, starts))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=1) + "\n")
        print(f"  {run['status']}: cpu {run['cpu_s']} s, wall {run['wall_s']} s", flush=True)


def mini_record(system: str) -> dict | None:
    """The committed personamem-mini run of a system with the embedded model (its LLM cost per phase)."""
    found = sorted((ROOT / "results" / "runs").glob(f"personamem-mini--{system}--smollm2--s0--*/run.json"))
    return json.loads(found[0].read_text()) if found else None


def estimates(rates: dict[str, dict], shape: dict) -> dict:
    """For the LLM-memory systems not measured: rates from their personamem-mini records' tokens (8
    sessions, 28 questions, discriminative) at the measured CPU per generated token, plus rag's measured
    CPU per question for the likelihood scoring. Says what it rests on; empty when nothing to rest on."""
    per_token = cpu_per_generated_token(rates)
    if per_token is None or "rag" not in rates:
        return {}
    from comam_bench.data.synthetic import build

    sessions = sum(len({m.session for m in ctx.msgs}) for ctx in build("mini", 0))
    scoring = rates["rag"]["per_question"]["cpu_s"]
    out = {}
    for system in SYSTEMS:
        record = mini_record(system)
        if system in rates or record is None or record["cost"]["ingest"]["calls"] == 0:
            continue
        out[system] = estimate(record["cost"], sessions, record["scores"]["n"], per_token, scoring)
    return {"estimates": out, "estimated_per_seed": {s: predict(r, shape) for s, r in out.items()},
            "estimate_source": f"tokens of results/runs/personamem-mini--SYSTEM--smollm2--s0--* ({sessions} sessions)"
                               f" x {per_token:.3f} CPU s per generated token (measured here) + rag's "
                               f"{scoring:.1f} CPU s per question"} if out else {}


def model_report(cached: list[dict], shape: dict) -> dict:
    """Rates, per-seed predictions and what is missing, for one model spec's measurements."""
    ok = [m for m in cached if m["status"] == "ok"]
    rates = fit_all(ok)
    tried = {m["system"] for m in cached}
    return {"rates": rates, "predicted_per_seed": {s: predict(r, shape) for s, r in rates.items()},
            **estimates(rates, shape),
            "not_measured": {m["system"]: m["status"] for m in cached if m["status"] != "ok"}
            | {s: "not run (budget)" for s in SYSTEMS if s not in tried},
            "measurements": {m["system"]: {"sample": m.get("sample", "first"),
                                           **{k: m[k] for k in ("cpu_s", "wall_s", "questions", "sessions",
                                                                "messages", "load_avg", "limit")}}
                             for m in ok}}


def write_outputs(args: argparse.Namespace) -> None:
    """Fit from the cache and write results/benchmarks/cost_model.{json,md}, one section per model spec."""
    shape = {"sessions": args.target_sessions, "questions": args.target_questions}
    models = {}
    for folder in sorted(p for p in (args.cache / "measurements").glob("*") if p.is_dir()):
        cached = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
        if cached:
            models[cached[0].get("model", "smollm2")] = model_report(cached, shape)
    report = {"command": " ".join(["benchmarks/cost_model.py", *sys.argv[1:]]), "preset": args.preset,
              "seed": args.seed, "target_shape": shape, "models": models}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1) + "\n")
    args.out.with_suffix(".md").write_text(render_markdown(report))
    counts = ", ".join(f"{model}: {len(part['rates'])} systems" for model, part in models.items())
    print(f"wrote {args.out.with_suffix('.json')} and .md ({counts})")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="cpu", help="synthetic preset sampled (its first questions)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--model", default="smollm2,window=2048",
                    help="model spec every run uses (the CPU leaderboard's; measurements cached per spec)")
    ap.add_argument("--systems", nargs="+", default=list(SYSTEMS))
    ap.add_argument("--limit", type=int, default=DEFAULT_LIMIT, help="questions per LLM-memory system")
    ap.add_argument("--timeout", type=float, default=3600,
                    help="wall seconds at most per system (a run cut short leaves no measurement)")
    ap.add_argument("--budget-min", type=float, default=60, help="minutes for all measurements together")
    ap.add_argument("--cache", type=Path, default=ROOT / "my-results" / "cost_model")
    ap.add_argument("--remeasure", action="store_true", help="measure cached systems again")
    ap.add_argument("--fit-only", action="store_true", help="only refit and write from the cache")
    ap.add_argument("--target-sessions", type=int, default=60, help="sessions per seed of the designed task")
    ap.add_argument("--target-questions", type=int, default=105, help="questions per seed of the designed task")
    ap.add_argument("--out", type=Path, default=ROOT / "results" / "benchmarks" / "cost_model.json")
    args = ap.parse_args(argv)
    if not args.fit_only:
        measure_all(args)
    write_outputs(args)


if __name__ == "__main__":
    main()
