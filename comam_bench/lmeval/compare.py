"""Run the same questions through lm-eval and through comam-bench, and compare them question by question.

Used by the agreement and speed benchmarks and by the tests. Imports lm_eval (only callers that want it
load this module). Verdicts on both sides come from comam_bench.protocol, so a difference is a difference
in what the model saw or generated, never in scoring.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from comam_bench.protocol import extract_answer, is_correct

LETTERS = "abcd"


def lm_eval_side(lm, export_dir: str | Path, task: str, *, limit: int | None = None,
                 apply_chat_template: bool = True) -> dict[str, Any]:
    """Evaluate an lm-eval model on an exported task with `simple_evaluate`; per question id: what the model
    answered and lm-eval's verdict(s), plus the wall time of the evaluation (model already loaded)."""
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    t0, c0 = time.perf_counter(), time.process_time()
    out = simple_evaluate(model=lm, tasks=[task], task_manager=TaskManager(include_path=str(export_dir)),
                          limit=limit, apply_chat_template=apply_chat_template, log_samples=True,
                          bootstrap_iters=0)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = {}
    for s in out["samples"][task]:
        qid = s["doc"]["question_id"]
        if task.endswith("-likelihood"):
            lls = [float(r[0]) for r in s["filtered_resps"]]
            rows[qid] = {"loglikelihoods": lls, "acc": s["acc"], "acc_norm": s["acc_norm"],
                         **({"acc_token": s["acc_token"]} if "acc_token" in s else {}),
                         "chosen": {"sum": LETTERS[_argmax(lls)],
                                    "char": LETTERS[_argmax([v / max(len(c), 1) for v, c in
                                                             zip(lls, [a[1] for a in s["arguments"]])])]}}
        else:
            text = s["filtered_resps"][0]
            rows[qid] = {"output": text, "extracted": extract_answer(text), "correct": bool(s["acc"]),
                         "correct_by_protocol": is_correct(text, s["doc"]["gold"])}
    return {"rows": rows, "wall_seconds": wall, "cpu_seconds": cpu, "results": out["results"][task]}


def harness_side(task: str, llm, *, system: str = "full-context", system_args: dict[str, Any] | None = None,
                 data_dir: str | None = None, limit: int | None = None, batch_size: int = 1,
                 results_dir: str | Path | None = None, **run_options: Any) -> dict[str, Any]:
    """`comam-bench run` (the library call) with an already-loaded model; per question id the sample row.
    `run_options`: further RunConfig fields (`protocol="likelihood"` once the runner has it)."""
    from comam_bench.record import RunRecord
    from comam_bench.runner import Run, RunConfig

    results_dir = Path(results_dir or tempfile.mkdtemp(prefix="comam-lm-eval-compare-"))
    cfg = RunConfig(task=task, system=system, system_args=dict(system_args or {}), model=llm.spec, data_dir=data_dir,
                    limit=limit,
                    batch_size=batch_size, results_dir=results_dir, overwrite=True, **run_options)
    run = Run(cfg, llm=llm)
    t0, c0 = time.perf_counter(), time.process_time()
    record = RunRecord.from_dict(run.execute())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = {}
    for line in (Path(results_dir) / "runs" / record.run_id / "samples.jsonl").read_text().splitlines():
        s = json.loads(line)
        rows[s["question_id"]] = {"output": s["raw_output"], "extracted": s["extracted"], "correct": s["correct"],
                                  **({"chosen": s["chosen"]} if "chosen" in s else {})}
    by_norm = {k: v["accuracy"] for k, v in (record.scores_by_norm or {}).items()}
    return {"rows": rows, "wall_seconds": wall, "cpu_seconds": cpu, "accuracy": record.scores.accuracy,
            "accuracy_by_norm": by_norm,
            "run_id": record.run_id}


def agreement(ours: dict[str, dict], theirs: dict[str, dict], keys: tuple[str, ...] = ("extracted", "correct"),
              ) -> dict[str, Any]:
    """Question-by-question agreement of two sides' rows on `keys`; the differing questions listed."""
    shared = [q for q in ours if q in theirs]
    differ = [{"question_id": q, **{f"{k}_comam": ours[q].get(k) for k in keys},
               **{f"{k}_lm_eval": theirs[q].get(k) for k in keys}}
              for q in shared if any(ours[q].get(k) != theirs[q].get(k) for k in keys)]
    same_text = sum(ours[q].get("output") == theirs[q].get("output") for q in shared if "output" in ours[q])
    return {"questions": len(shared), "only_comam": len(set(ours) - set(theirs)),
            "only_lm_eval": len(set(theirs) - set(ours)), "agree": len(shared) - len(differ),
            "identical_outputs": same_text, "differences": differ}


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def likelihood_agreement(ours: dict[str, dict], theirs: dict[str, dict]) -> dict[str, Any]:
    """lm-eval's acc / acc_norm letters against the harness's `sum` / `char` choices, question by question."""
    out = {}
    for norm, metric in (("sum", "acc"), ("char", "acc_norm")):
        mine = {q: {"letter": r["chosen"][norm]} for q, r in ours.items()}
        other = {q: {"letter": r["chosen"][norm]} for q, r in theirs.items()}
        out[f"{metric} ({norm})"] = agreement(mine, other, keys=("letter",))
    return out
