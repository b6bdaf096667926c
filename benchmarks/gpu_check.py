"""What a single lent GPU can show of the training stack: the local backend's training step, the harness's
transformers generation and (where the backend has it, Contract A) likelihood scoring, on a random-init
Qwen2.5-0.5B-shaped model built here (no download); and the OpenRLHF path (gpu_check_openrlhf.py: the real
agent executor against a transformers-backed engine, OpenRLHF's own experience / advantage / Actor.forward
code on its output, a 32k-token memory go/no-go at 3B and 7B shapes, train_ppo_ray where it imports).

    DEVICE=cuda python benchmarks/gpu_check.py OUT_DIR        # the real check (benchmarks/gpu_check.sh)
    DEVICE=cpu  python benchmarks/gpu_check.py OUT_DIR        # a tiny model of the same architecture, CPU

Writes OUT_DIR/gpu_check.json: per part the wall time, tokens/s and peak memory (CUDA: max allocated;
CPU: the process's peak RSS, which only grows). A random model says nothing about quality; the numbers are
speed and memory of the code paths the CPU tests cannot time.
"""
from __future__ import annotations

import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

# Qwen2.5-0.5B-Instruct's shape (config.json of the release); TINY keeps the architecture, shrinks it.
QWEN_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6,
                tie_word_embeddings=True)
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, vocab_size=4096, max_position_embeddings=4096, rope_theta=1e6,
            tie_word_embeddings=True)


def peak_memory_reset(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gb(device: str) -> float:
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def build_model(folder: Path, shape: dict, texts: list[str]) -> tuple[str, int]:
    """A random Qwen2 model and a word-level tokenizer padded to the model's vocabulary; (hf:DIR, parameters)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from comam_bench.training.tiny import build_tokenizer, vocabulary

    words = vocabulary(texts, limit=shape["vocab_size"] - 8)
    words += [f"<w{i}>" for i in range(shape["vocab_size"] - len(words))]  # rows a real vocabulary would use
    tokenizer = build_tokenizer(words)
    torch.manual_seed(0)
    config = Qwen2Config(**shape, eos_token_id=1, pad_token_id=0, bos_token_id=None)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return f"hf:{folder}", sum(p.numel() for p in model.parameters())


def texts_of_task() -> tuple[list[str], list]:
    from comam_bench.data import load_task, resolve_spec
    from comam_bench.training.local import LocalTrainer  # noqa: F401  (import cost outside the timings)
    from comam_bench.comam.training.pipeline import vocabulary_texts

    task = load_task(resolve_spec("personamem-mini"))
    texts = vocabulary_texts(())  # the prompts' wording and reply formats; the task's texts follow
    texts += [m.content for msgs in task.contexts.values() for m in msgs]
    texts += [q.text + " " + q.options_raw for q in task.questions]
    return texts, task.questions


def generation(spec: str, device: str, questions, tiny: bool) -> dict:
    from comam_bench.llm import load_llm

    llm = load_llm(spec)
    batch, new = (4, 16) if tiny else (16, 256)
    chats = [[{"role": "user", "content": (q.text + "\n" + q.options_raw) * (1 if tiny else 8)}]
             for q in questions[:batch]]
    llm.generate(chats[:1], max_new_tokens=4, temperature=1.0, seed=0)  # warm-up (kernels, allocator)
    peak_memory_reset(device)
    t0 = time.perf_counter()
    gens = llm.generate(chats, max_new_tokens=new, temperature=1.0, seed=0, ignore_eos=True)
    seconds = time.perf_counter() - t0
    completion = sum(g.completion_tokens for g in gens)
    out = {"batch": len(chats), "max_new_tokens": new, "prompt_tokens": sum(g.prompt_tokens for g in gens),
           "completion_tokens": completion, "seconds": round(seconds, 3),
           "completion_tokens_per_s": round(completion / seconds, 1), "peak_memory_gb": round(peak_memory_gb(device), 3)}
    out["likelihood"] = likelihood(llm, device, questions[:batch])
    llm.close()
    return out


def likelihood(llm, device: str, questions) -> dict:
    """LLM.loglikelihood (the likelihood protocol's scoring) where the backend implements it; a note where not."""
    from comam_bench.api import LLM

    method = getattr(type(llm), "loglikelihood", None)
    if method is None or method is getattr(LLM, "loglikelihood", None):
        return {"skipped": f"{type(llm).__name__} does not implement loglikelihood"}
    peak_memory_reset(device)
    t0, tokens = time.perf_counter(), 0
    try:
        for q in questions:
            chat = [{"role": "user", "content": q.text}]
            scores = llm.loglikelihood(chat, [o.split(") ", 1)[-1] for o in q.options])
            tokens += sum(s.tokens for s in scores)
    except NotImplementedError as exc:
        return {"skipped": f"loglikelihood raised NotImplementedError: {exc}"}
    seconds = time.perf_counter() - t0
    return {"questions": len(questions), "options": 4 * len(questions), "continuation_tokens": tokens,
            "seconds": round(seconds, 3), "questions_per_s": round(len(questions) / seconds, 2),
            "peak_memory_gb": round(peak_memory_gb(device), 3)}


def training_step(spec: str, device: str, work: Path, tiny: bool) -> dict:
    """Two joint steps of the local backend (rollout G=4 x 2 questions, rewards, credit, per-agent GRPO;
    the judge is the base with adapters off)."""
    from comam_bench.training.base import train_recipe

    budgets = (16, 8, 8, 128) if tiny else (128, 64, 64, 768)
    recipe = {
        "name": "gpu-check", "backend": "local", "seed": 0, "output_dir": str(work / "train"),
        "model": {"base": spec, "window": 1024 if tiny else 4096,
                  "dtype": "float32" if device == "cpu" else "bfloat16", "gradient_checkpointing": not tiny},
        "lora": {"r": 16, "alpha": 32, "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"]},
        "data": {"task": "personamem-mini", "validation_fraction": 0.25},
        # recency ranking: the device image has no bm25s, and one session's memory needs no ranking anyway
        "pipeline": {"ranking": "recency",
                     **dict(zip(("extraction_tokens", "profile_tokens", "retrieval_tokens", "memory_tokens"), budgets))},
        "rollout": {"group": 4, "temperature": 1.0},
        "train": {"mode": "joint", "max_steps": 2, "batch_questions": 2, "micro_batch": 4, "lr": 1e-4,
                  "kl_coef": 0.01},
        "rewards": {"judge": "base", "judge_tokens": 8},
        "eval": {"every": 0, "validation_limit": 2, "final": False},
    }
    path = work / "gpu-check.yaml"
    path.write_text(json.dumps(recipe))  # JSON is YAML
    peak_memory_reset(device)
    t0 = time.perf_counter()
    result, = train_recipe(str(path))
    seconds = time.perf_counter() - t0
    rows = [json.loads(line) for line in Path(result.metrics).read_text().splitlines()]
    steps = [r for r in rows if r.get("kind") == "train"]
    keys = ("time/step", "time/rollout", "time/score", "time/update", "tokens/prompt", "tokens/completion")
    return {"steps": [{k: round(r[k], 3) for k in keys if k in r} for r in steps],
            "seconds_total": round(seconds, 3), "peak_memory_gb": round(peak_memory_gb(device), 3),
            "rollout_completion_tokens_per_s": round(sum(r["tokens/completion"] for r in steps) /
                                                     sum(r["time/rollout"] for r in steps), 1)}


def openrlhf(work: Path, device: str, tiny: bool, shape: dict) -> dict:
    """The OpenRLHF path (gpu_check_openrlhf.py), where OpenRLHF's package imports."""
    import importlib.util

    if importlib.util.find_spec("openrlhf") is None:
        return {"skipped": "openrlhf is not importable: pip install --no-deps openrlhf==0.11.2 here, or carry its "
                           "wheel to the device machine (benchmarks/gpu_check.sh says how)"}
    import gpu_check_openrlhf

    return gpu_check_openrlhf.run(work / "model", device, tiny, work, shape)


def main(out_dir: str) -> None:
    device = os.environ.get("DEVICE", "cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("DEVICE=cuda but torch sees no GPU; DEVICE=cpu runs the tiny check")
    tiny = device == "cpu" or os.environ.get("TINY") == "1"
    shape = TINY if tiny else QWEN_05B
    report = {"device": device, "tiny": tiny, "shape": shape, "torch": torch.__version__,
              "python": platform.python_version(),
              "gpu": torch.cuda.get_device_name(0) if device == "cuda" else None}
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        work = Path(tmp)
        texts, questions = texts_of_task()
        t0 = time.perf_counter()
        spec, parameters = build_model(work / "model", shape, texts)
        report["model"] = {"parameters": parameters, "build_seconds": round(time.perf_counter() - t0, 3)}
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for name, part in (("generation", lambda: generation(spec, device, questions, tiny)),
                           ("training_step", lambda: training_step(spec, device, work, tiny)),
                           ("openrlhf", lambda: openrlhf(work, device, tiny, shape))):
            try:
                report[name] = part()
            except Exception as exc:  # one part failing must not lose the other's numbers
                report[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(name, json.dumps(report[name]), flush=True)
            # after every part: a run stopped by its time limit keeps what it measured
            (out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out / 'gpu_check.json'}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", "."))
