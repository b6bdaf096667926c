"""A transformers model shared by parallel contexts: a lock against a batching queue (comam_bench.llm.shared).

    .venv/bin/python benchmarks/llm_sharing.py     # embedded SmolLM2; writes results/benchmarks/llm_sharing.json
    .venv/bin/python benchmarks/llm_sharing.py --model hf:/models/x --threads 1,4,8 --calls 6

T threads (as T contexts in flight) each make `--calls` greedy one-chat calls of `--new-tokens` tokens (end of
sequence ignored, so every call generates the same number), through one shared model: behind a lock (one
call at a time) or a batching queue (calls waiting for the model are decoded as one batch). Reports generated
tokens per second, and checks that both give the same text for every call.
"""
from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
TOPICS = ["hiking", "chess", "baking bread", "jazz", "tennis", "gardening", "painting", "cycling"]


def chat(thread: int, call: int) -> list[dict]:
    topic = TOPICS[(thread + call) % len(TOPICS)]
    return [{"role": "user", "content": f"In one sentence, why might someone enjoy {topic}? (note {thread}.{call})"}]


def measure(shared, threads: int, calls: int, new_tokens: int) -> tuple[float, dict]:
    texts: dict = {}

    def work(t: int) -> None:
        for c in range(calls):
            out = shared.generate([chat(t, c)], max_new_tokens=new_tokens, temperature=0.0, ignore_eos=True)
            texts[(t, c)] = out[0].text

    start = time.perf_counter()
    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    return time.perf_counter() - start, texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--threads", default="1,4")
    parser.add_argument("--calls", type=int, default=4)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "llm_sharing.json"))
    args = parser.parse_args()
    from comam_bench.llm import load_llm
    from comam_bench.llm.shared import BatchingLLM, LockedLLM

    llm = load_llm(args.model)
    llm.generate([chat(0, 0)], max_new_tokens=2)  # warm-up
    rows, reference = [], {}
    for threads in (int(x) for x in args.threads.split(",")):
        for name, wrapper in (("lock", LockedLLM), ("batch", BatchingLLM)):
            shared = wrapper(llm)
            wall, texts = measure(shared, threads, args.calls, args.new_tokens)
            same = all(reference.setdefault(k, v) == v for k, v in texts.items())
            tokens = threads * args.calls * args.new_tokens
            rows.append({"sharing": name, "threads": threads, "calls": threads * args.calls,
                         "model_calls": getattr(shared, "calls", threads * args.calls),
                         "wall_seconds": round(wall, 2), "generated_tokens_per_second": round(tokens / wall, 1),
                         "same_text_as_first": same})
            print(json.dumps(rows[-1]), flush=True)
    out = {"model": llm.identity(), "new_tokens": args.new_tokens, "calls_per_thread": args.calls,
           "torch_threads": __import__("torch").get_num_threads(), "load_average": os.getloadavg()[0], "rows": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
