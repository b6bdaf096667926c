"""What the shared-prefix reuse saves when the likelihood protocol scores a question's four options.

    .venv/bin/python benchmarks/likelihood_prefix.py --questions 6 --long-tokens 2048 \\
        --out results/benchmarks/likelihood_prefix.json

Same questions, same model (the embedded SmolLM2-135M unless --model), scored both ways in one run:
- "reuse": the prefix once with the KV cache on, then the four options as one batch on top of it
  (TransformersLLM.loglikelihood, the default);
- "separate": prefix + option through the model once per option (reuse_prefix=False).
At two prefix lengths: "short" = the question alone (what no-memory scores after), "long" = the history
before the question (what full-context scores after), its oldest messages dropped until the chat fits
--long-tokens. Questions come from the synthetic 32k preset (seed 0), whose histories are long enough.
Per question: tokens fed to the model and wall seconds (the two modes alternate question by question, so
load on a shared machine hits both alike), and the largest difference between the two modes' scores.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def fit(llm, chat: list[dict], limit: int) -> list[dict]:
    """Drop the oldest messages (keeping the question) until the templated chat fits `limit` tokens."""
    while len(chat) > 1 and llm.count_chat_tokens(chat) > limit:
        chat = chat[1:]
    return chat


def measure(llm, chat, options, reuse: bool) -> dict:
    before, start = llm.forward_tokens, time.perf_counter()
    scores = llm.loglikelihood(chat, options, reuse_prefix=reuse)
    return {"seconds": time.perf_counter() - start, "forward_tokens": llm.forward_tokens - before, "scores": scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--questions", type=int, default=6)
    parser.add_argument("--long-tokens", type=int, default=2048)
    parser.add_argument("--out", help="write the rows as JSON here")
    args = parser.parse_args()

    from comam_bench.data import load_task, resolve_spec
    from comam_bench.data.synthetic import generate
    from comam_bench.llm import load_llm
    from comam_bench.protocol import likelihood_chat, option_continuations

    with tempfile.TemporaryDirectory() as d:
        generate(d, "32k", seed=0)
        data = load_task(resolve_spec("synthetic-32k"), d)
    # The questions with the longest histories, so that "long" really is long.
    questions = sorted(data.questions, key=lambda q: -q.end_index)[:args.questions]
    llm = load_llm(args.model)
    llm.loglikelihood([{"role": "user", "content": "warm up"}], ["a", "b"])  # first-call costs out of the way
    rows = []
    for q in questions:
        options = option_continuations(q)
        chats = {"short": likelihood_chat([], q),
                 "long": fit(llm, likelihood_chat(data.contexts[q.context_id][:q.end_index], q), args.long_tokens)}
        for prefix, chat in chats.items():
            modes = ("reuse", "separate") if len(rows) % 2 == 0 else ("separate", "reuse")
            got = {mode: measure(llm, chat, options, mode == "reuse") for mode in modes}
            diff = max(abs(a.logprob - b.logprob) for a, b in zip(got["reuse"]["scores"], got["separate"]["scores"]))
            rows.append({"question": q.id, "prefix": prefix, "prefix_tokens": llm.count_chat_tokens(chat),
                         "option_tokens": [s.tokens for s in got["reuse"]["scores"]], "max_abs_logprob_diff": diff,
                         **{f"{m}_{k}": got[m][k] for m in got for k in ("seconds", "forward_tokens")}})
            r = rows[-1]
            print(f"{q.id[:12]:12s} {prefix:5s} prefix {r['prefix_tokens']:5d} tok | reuse {r['reuse_forward_tokens']:5d} tok "
                  f"{r['reuse_seconds']:6.2f} s | separate {r['separate_forward_tokens']:5d} tok "
                  f"{r['separate_seconds']:6.2f} s | max |diff| {diff:.2e}", flush=True)
    summary = summarise(rows)
    for line in table(summary):
        print(line)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"command": "benchmarks/likelihood_prefix.py " + " ".join(
                f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if k != "out" and v is not None),
                "model": llm.identity(), "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                "summary": summary, "rows": rows}, fh, indent=2, sort_keys=True)
            fh.write("\n")


def summarise(rows: list[dict]) -> dict:
    """Means per prefix length; ratio = separate / reuse."""
    out = {}
    for prefix in ("short", "long"):
        rs = [r for r in rows if r["prefix"] == prefix]
        mean = lambda k: statistics.fmean(r[k] for r in rs)  # noqa: E731
        out[prefix] = {"questions": len(rs), "prefix_tokens": round(mean("prefix_tokens"), 1),
                       "option_tokens": round(statistics.fmean(sum(r["option_tokens"]) for r in rs), 1),
                       "reuse_forward_tokens": round(mean("reuse_forward_tokens"), 1),
                       "separate_forward_tokens": round(mean("separate_forward_tokens"), 1),
                       "reuse_seconds": round(mean("reuse_seconds"), 3),
                       "separate_seconds": round(mean("separate_seconds"), 3),
                       "token_ratio": round(mean("separate_forward_tokens") / mean("reuse_forward_tokens"), 2),
                       "time_ratio": round(mean("separate_seconds") / mean("reuse_seconds"), 2),
                       "max_abs_logprob_diff": max(r["max_abs_logprob_diff"] for r in rs)}
    return out


def table(summary: dict) -> list[str]:
    lines = ["| prefix | n | prefix tok | 4 options tok | reuse: fed tok / s | separate: fed tok / s | "
             "× tokens | × time | max abs diff |", "|---|---|---|---|---|---|---|---|---|"]
    for prefix, s in summary.items():
        lines.append(f"| {prefix} | {s['questions']} | {s['prefix_tokens']} | {s['option_tokens']} | "
                     f"{s['reuse_forward_tokens']} / {s['reuse_seconds']} | {s['separate_forward_tokens']} / "
                     f"{s['separate_seconds']} | {s['token_ratio']} | {s['time_ratio']} | "
                     f"{s['max_abs_logprob_diff']:.1e} |")
    return lines


if __name__ == "__main__":
    main()
