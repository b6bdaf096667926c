"""LLM tokens processed per question: memory built once per context prefix (the runner's incremental
ingestion) against memory rebuilt from scratch for every question position.

Both modes run through the real runner on one synthetic context with many questions. Token counts use the
embedded SmolLM2 tokenizer; generation is a fixed-length text (this measures the harness's work schedule,
not answer quality, and keeps the script minutes long on a CPU). Run:

    .venv/bin/python benchmarks/memory_reuse.py --preset 128k --systems mem1 comam memory-r1 --out results/benchmarks/memory_reuse.json
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import LLM, Generation
from comam_bench.data import load_task
from comam_bench.runner import Run, RunConfig


class TokenizerOnlyLLM(LLM):
    """Real tokenizer, fixed output: every call 'generates' `out_tokens` tokens of filler."""

    def __init__(self, out_tokens: int, window: int = 8192) -> None:
        from transformers import AutoTokenizer

        from comam_bench.llm import embedded_model_file

        path = embedded_model_file()
        self.tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
        self.text = " ".join(["note"] * out_tokens)
        self.out_tokens = out_tokens
        self.context_window = window
        self.spec = f"tokenizer-only:smollm2,out={out_tokens}"

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_chat_tokens(self, chat) -> int:
        text = self.tokenizer.apply_chat_template(list(chat), tokenize=False, add_generation_prompt=True)
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def generate(self, chats, *, max_new_tokens: int = 256, temperature: float = 0.0, seed=None,
                 **kwargs: Any) -> list[Generation]:
        n = min(self.out_tokens, max_new_tokens)
        text = " ".join(["note"] * n)
        return [Generation(text, self.count_chat_tokens(chat), n) for chat in chats]


def run_mode(system: str, preset: str, limit: int, rebuild: bool, llm: LLM, results: Path) -> dict:
    cfg = RunConfig(task=f"synthetic-{preset}", system=system, model=llm.spec, embedder="hash:256",
                    limit=limit, results_dir=results, rebuild_per_question=rebuild, overwrite=True)
    record = Run(cfg, llm=llm).execute()
    cost = record["cost"]
    total = sum(cost[phase][kind] for phase in ("ingest", "answer") for kind in ("prompt_tokens", "completion_tokens"))
    n = record["scores"]["n"]
    return {"run_id": record["run_id"], "questions": n, "positions": len(set(_positions(results, record))),
            "llm_calls": round(cost["ingest"]["calls"] + cost["answer"]["calls"]), "tokens": round(total),
            "tokens_per_question": round(total / n, 1)}


def _positions(results: Path, record: dict) -> Sequence[int]:
    rows = (results / "runs" / record["run_id"] / "samples.jsonl").read_text().splitlines()
    return [json.loads(r)["end_index"] for r in rows]


def first_context_size(preset: str) -> int:
    data = load_task(f"synthetic-{preset}")
    first = data.questions[0].context_id
    return sum(q.context_id == first for q in data.questions)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--preset", default="128k")
    ap.add_argument("--systems", nargs="+", default=["mem1", "comam", "memory-r1"])
    ap.add_argument("--out-tokens", type=int, default=48, help="tokens each scripted generation returns")
    ap.add_argument("--out", type=Path, help="write the table as JSON here")
    args = ap.parse_args(argv)

    limit = first_context_size(args.preset)  # questions are ordered by context: the first context only
    llm = TokenizerOnlyLLM(args.out_tokens)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for system in args.systems:
            reuse = run_mode(system, args.preset, limit, False, llm, Path(tmp))
            rebuild = run_mode(system, args.preset, limit, True, llm, Path(tmp))
            rows.append({"system": system, "reuse": reuse, "rebuild": rebuild,
                         "ratio": round(rebuild["tokens_per_question"] / reuse["tokens_per_question"], 2)})
    print(f"synthetic-{args.preset}, first context: {limit} questions; tokens = prompt + generated, "
          f"SmolLM2 tokenizer, {args.out_tokens}-token scripted generations")
    print(f"{'system':12s} {'positions':>9s} {'reuse tok/q':>12s} {'rebuild tok/q':>14s} {'ratio':>6s}")
    for r in rows:
        print(f"{r['system']:12s} {r['reuse']['positions']:>9d} {r['reuse']['tokens_per_question']:>12.1f} "
              f"{r['rebuild']['tokens_per_question']:>14.1f} {r['ratio']:>6.2f}")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"preset": args.preset, "questions": limit, "out_tokens": args.out_tokens,
                                        "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
