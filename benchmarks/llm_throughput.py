"""Measure a model's load time, prompt (prefill) tokens/s and generated tokens/s at a few batch sizes.

    .venv/bin/python benchmarks/llm_throughput.py                       # the embedded SmolLM2 on this machine
    .venv/bin/python benchmarks/llm_throughput.py --model hf:/models/x --batches 1,4,16 --prompt-tokens 1024

Prefill rate = batch x prompt tokens / time of a 1-token generation from a long prompt. Decode rate =
batch x N / time of an N-token generation from a short (~32-token) prompt, whose prefill is negligible; the
end-of-sequence token is ignored so every row generates N tokens. Greedy, best of --repeats. Prints one JSON
object; the load average is included because the numbers depend on what else the machine runs.
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

SENTENCE = "The user mentioned that they enjoy hiking in the mountains and reading science fiction. "


def prompt_of(llm, tokens: int, salt: int) -> list[dict]:
    """A user chat of about `tokens` template tokens; `salt` keeps rows of a batch distinct."""
    text = f"Note {salt}. "
    while llm.count_chat_tokens([{"role": "user", "content": text + SENTENCE}]) <= tokens:
        text += SENTENCE
    return [{"role": "user", "content": text}]


def timed(llm, chats, new_tokens: int) -> tuple[float, list]:
    start = time.perf_counter()
    out = llm.generate(chats, max_new_tokens=new_tokens, temperature=0.0, ignore_eos=True)
    return time.perf_counter() - start, out


def measure(llm, batch: int, prompt_tokens: int, new_tokens: int, repeats: int) -> dict:
    """Best of `repeats` (the run least disturbed by other processes) for prefill and for decoding."""
    long_chats = [prompt_of(llm, prompt_tokens, salt=i) for i in range(batch)]
    short_chats = [prompt_of(llm, 32, salt=i) for i in range(batch)]
    t_prefill, prefill = min((timed(llm, long_chats, 1) for _ in range(repeats)), key=lambda r: r[0])
    t_decode, decode = min((timed(llm, short_chats, new_tokens) for _ in range(repeats)), key=lambda r: r[0])
    prompt = sum(g.prompt_tokens for g in prefill)
    generated = sum(g.completion_tokens for g in decode)
    return {"batch": batch, "prompt_tokens_per_row": prompt // batch, "prefill_s": round(t_prefill, 3),
            "prompt_tokens_per_s": round(prompt / t_prefill, 1), "new_tokens_per_row": generated // batch,
            "decode_s": round(t_decode, 3), "generated_tokens_per_s": round(generated / t_decode, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--batches", default="1,4")
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import torch

    from comam_bench.llm import load_llm

    start = time.perf_counter()
    llm = load_llm(args.model)
    load_s = time.perf_counter() - start
    timed(llm, [prompt_of(llm, 32, 0)], 2)  # warm-up: the first forward pays one-off costs
    rows = [measure(llm, int(b), args.prompt_tokens, args.new_tokens, args.repeats) for b in args.batches.split(",")]
    print(json.dumps({"model": args.model, "identity": llm.identity(), "load_s": round(load_s, 2),
                      "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
                      "loadavg_1m_at_end": round(os.getloadavg()[0], 2), "results": rows}, indent=1))


if __name__ == "__main__":
    main()
