"""The OpenRLHF path of benchmarks/gpu_check.py: what one GPU can show of a CoMAM OpenRLHF job without vLLM,
Ray or DeepSpeed (OpenRLHF's own code is imported as comam_bench.training.openrlhf.realcode does).

- rollout: the real CoMAM agent executor (the job's agent.py class) over 8 prompts x n samples, n = 3 agents
  x G, called as OpenRLHF's rollout actor calls it (n concurrent `execute` per prompt, all prompts at once),
  against a transformers-backed async engine (HFAsyncEngine, vLLM's `generate` contract, concurrent requests
  batched); the judge is the same weights through the harness's transformers backend. Reports wall time,
  tokens/s and the event loop's worst lag (a stall there would hold every request of the engine).
- experience: the executor's output through OpenRLHF's own experience and advantage code under the job's
  own checked args (parser.checked_args); the advantages on the trained tokens must equal the executor's
  rewards (dr_grpo leaves them unchanged).
- logprobs: the engine's sampling log-probabilities against OpenRLHF's Actor.forward on the same tokens.
- memory: one 32,768-token forward + backward (gradient checkpointing, OpenRLHF's Actor.forward log-probs,
  a PPO-shaped loss over the last 3,072 tokens) on random 3B- and 7B-shaped Qwen2.5 models: go / no-go
  and peak memory (no optimizer states: ZeRO-3 shards those over the job's GPUs).
- train_ppo_ray: a 1-GPU smoke job, only where vllm, ray and deepspeed import; else the reason it was skipped.
"""
from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch

QWEN_3B = dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
               num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, rope_theta=1e6,
               tie_word_embeddings=True)
QWEN_7B = dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, max_position_embeddings=32768, rope_theta=1e6,
               tie_word_embeddings=False)
PROMPTS = 8


class HFAsyncEngine:
    """`await generate(prompt_token_ids, sampling_params)` on a transformers model, shaped like vLLM's output
    (outputs[0].token_ids / logprobs / finish_reason). Requests that arrive together are generated as one
    left-padded batch in a worker thread, so the event loop never blocks on the GPU."""

    def __init__(self, model: Any, tokenizer: Any, max_batch: int = 64) -> None:
        self.model, self.tokenizer, self.max_batch = model, tokenizer, max_batch
        self.queue: list[tuple[list[int], Any, asyncio.Future]] = []
        self.runner: asyncio.Task | None = None
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-engine")
        self.batches: list[int] = []
        self.generated = 0

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self.queue.append((list(prompt_token_ids), sampling_params, future))
        if self.runner is None or self.runner.done():
            self.runner = loop.create_task(self._run(loop))
        return await future

    async def _run(self, loop) -> None:
        await asyncio.sleep(0.005)  # let the requests of one pipeline step arrive together
        while self.queue:
            batch, self.queue = self.queue[:self.max_batch], self.queue[self.max_batch:]
            try:
                results = await loop.run_in_executor(self.thread, self._generate, batch)
            except Exception as exc:  # every waiting request learns of it
                for _, _, future in batch:
                    future.set_exception(exc)
                continue
            for (_, _, future), result in zip(batch, results):
                future.set_result(result)

    @torch.no_grad()
    def _generate(self, batch) -> list:
        tok, model = self.tokenizer, self.model
        device = next(model.parameters()).device
        width = max(len(ids) for ids, _, _ in batch)
        pad = tok.pad_token_id
        ids = torch.tensor([[pad] * (width - len(p)) + p for p, _, _ in batch], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p, _, _ in batch], device=device)
        budget = max(int(params.max_tokens) for _, params, _ in batch)
        temperature = float(batch[0][1].temperature)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=budget, do_sample=temperature > 0,
                             temperature=temperature or None, top_p=1.0, top_k=0, output_logits=True,
                             return_dict_in_generate=True, pad_token_id=pad, eos_token_id=tok.eos_token_id)
        # As OpenRLHF asks vLLM for them when it uses them (logprobs_mode processed_logprobs): after temperature
        logprobs = (torch.stack(out.logits, 1).float() / (temperature or 1.0)).log_softmax(-1)
        new = out.sequences[:, width:]
        self.batches.append(len(batch))
        return [self._output(new[i], logprobs[i], params) for i, (_, params, _) in enumerate(batch)]

    def _output(self, tokens, logprobs, params) -> SimpleNamespace:
        eos, limit = self.tokenizer.eos_token_id, int(params.max_tokens)
        ids = tokens.tolist()
        end = ids.index(eos) + 1 if eos in ids[:limit] else limit
        ids = ids[:end]
        self.generated += len(ids)
        lps = logprobs[torch.arange(len(ids)), torch.tensor(ids)].tolist()
        entries = [{t: SimpleNamespace(logprob=lp)} for t, lp in zip(ids, lps)] if params.logprobs is not None else None
        reason = "stop" if ids and ids[-1] == eos else "length"
        return SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, logprobs=entries, finish_reason=reason)])


class Params:
    """The SamplingParams attributes OpenRLHF sets and the executor reads (logprobs=1: rollout log-probs)."""

    def __init__(self, temperature: float, max_tokens: int) -> None:
        self.temperature, self.max_tokens, self.logprobs, self.top_p, self.n = temperature, max_tokens, 1, 1.0, 1


def plan_for(model_dir: Path, tiny: bool, more: list[str] = ()):
    """The gpu-openrlhf-32k job, reshaped for one GPU and this model (all three agents trained: n = 3G)."""
    from comam_bench.training.openrlhf.settings import plan_run
    from comam_bench.training.recipe import load_recipe

    group, max_len = (2, 1024) if tiny else (4, 8192)
    budgets = (16, 8, 8, 256) if tiny else (128, 64, 64, 2048)
    return plan_run(load_recipe("gpu-openrlhf-32k", [
        f"model.base=hf:{model_dir}", "model.agents={}", "train.agents=[extraction, profile, retrieval]",
        f"rollout.group={group}", f"train.batch_questions={PROMPTS}", "openrlhf.gpus_per_node=1",
        "openrlhf.vllm_engines=1", "data.task=personamem-mini", f"openrlhf.max_len={max_len}",
        f"data.max_history_tokens={max_len // 2}", "pipeline.ranking=recency",
        *(f"pipeline.{k}={v}" for k, v in zip(("extraction_tokens", "profile_tokens", "retrieval_tokens",
                                                "memory_tokens"), budgets)), *more]))


async def _rollout(executor, rows, n, tok, engine, max_tokens, temperature) -> tuple[list, float]:
    """As RolloutRayActor: n concurrent execute calls per prompt, all prompts at once; and the loop's worst lag."""
    lags, done = [0.0], asyncio.Event()

    async def watch():
        loop = asyncio.get_running_loop()
        while not done.is_set():
            t = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - t - 0.01)

    async def one(row):
        return await asyncio.gather(*[executor.execute(row["input"], row["label"], Params(temperature, max_tokens),
                                                       executor.coordinator.config["max_len"], tok, engine)
                                      for _ in range(n)])
    watcher = asyncio.get_running_loop().create_task(watch())
    out = await asyncio.gather(*[one(r) for r in rows])
    done.set()
    await watcher
    return out, max(lags)


def rollout_part(plan, model_dir: Path, device: str) -> tuple[dict, list, Any]:
    """The real executor against HFAsyncEngine; returns (report, responses, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from comam_bench.llm import load_llm
    from comam_bench.llm.shared import LockedLLM
    from comam_bench.training.openrlhf.dataset import load_examples, prompt_row
    from comam_bench.training.openrlhf.executor import CoMAMAgentExecutor

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).to(device).eval()
    engine = HFAsyncEngine(model, tok)
    judge = LockedLLM(load_llm(f"hf:{model_dir}"))  # the judge's endpoint, served by the same weights here
    config = plan.executor_config()
    built = []
    executor = CoMAMAgentExecutor(config, llm_factory=lambda spec: built.append(spec) or judge)
    train, _, _ = load_examples(plan.recipe)
    rows = [prompt_row(ex) for ex in train[:PROMPTS]]
    budget = max(int(plan.recipe.pipeline[k]) for k in ("extraction_tokens", "profile_tokens", "retrieval_tokens"))
    t0 = time.perf_counter()
    out, lag = asyncio.run(_rollout(executor, rows, plan.n, tok, engine, budget, plan.recipe.rollout.temperature))
    seconds = time.perf_counter() - t0
    responses = [r for group in out for r in group]
    judge.close()
    del model
    return ({"prompts": len(rows), "n": plan.n, "group": plan.group, "samples": len(responses),
             "seconds": round(seconds, 3), "engine_batches": engine.batches,
             "engine_tokens": engine.generated, "engine_tokens_per_s": round(engine.generated / seconds, 1),
             "max_event_loop_lag_s": round(lag, 4), "endpoints_built": built,
             "nonzero_rewards": sum(r["reward"] != 0 for r in responses),
             "rewards_first_prompt": [round(r["reward"], 4) for r in responses[:plan.n]]}, responses, tok)


def experience_part(plan, responses: list, tok) -> tuple[dict, list, Any]:
    """OpenRLHF's experience and advantage code on the executor's output; (report, experiences, args)."""
    from comam_bench.training.openrlhf import realcode
    from comam_bench.training.openrlhf.command import train_flags
    from comam_bench.training.openrlhf.parser import checked_args

    args = checked_args(train_flags(plan, "/tmp/gpu-check-model"))
    experiences = realcode.experiences(responses, args, tok.pad_token_id)
    worst, tokens = 0.0, 0
    for e in experiences:
        for row, i in enumerate(e.index):
            mask = e.action_mask[row].bool()
            tokens += int(mask.sum())
            worst = max(worst, float((e.advantages[row][mask] - responses[i]["reward"]).abs().max()))
    return ({"micro_batches": len(experiences), "samples": sum(len(e.index) for e in experiences),
             "action_tokens": tokens, "estimator": args.algo.advantage.estimator,
             "max_abs_advantage_minus_reward": worst}, experiences, args)


@torch.no_grad()
def logprob_part(experiences: list, model_dir: Path, device: str, temperature: float) -> dict:
    """The engine's sampling log-probs against OpenRLHF's Actor.forward on the same sequences."""
    from comam_bench.training.openrlhf import realcode

    actor = realcode.actor_class()(str(model_dir), attn_implementation="sdpa", param_dtype="bf16",
                                   temperature=temperature).to(device).eval()
    diffs = []
    for e in experiences:
        mask = e.action_mask.bool()
        ours = actor(e.sequences.to(device), e.action_mask.to(device), e.attention_mask.to(device)).cpu()
        diffs.append((ours - e.rollout_log_probs)[mask].abs())
    diff = torch.cat(diffs)
    del actor
    return {"tokens": int(diff.numel()), "max_abs_diff": round(float(diff.max()), 5),
            "mean_abs_diff": round(float(diff.mean()), 6), "dtype": "bf16 (both)"}


def memory_part(name: str, shape: dict, tokens: int, action: int, device: str) -> dict:
    """One forward + backward of `tokens` tokens, gradient checkpointing on: go (it fits) or no-go (OOM)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from comam_bench.training.openrlhf import realcode

    out = {"shape": name, "tokens": tokens, "action_tokens": action}
    gc.collect()  # the earlier parts' models
    if device == "cuda":
        torch.cuda.empty_cache()
    model = actor = None
    default = torch.get_default_dtype()
    try:
        config = Qwen2Config(**shape, attn_implementation="sdpa", use_cache=False)
        torch.set_default_dtype(torch.bfloat16)  # built in bf16 on the device: no fp32 copy first
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
        torch.set_default_dtype(default)
        out["parameters"] = sum(p.numel() for p in model.parameters())
        if device == "cuda":
            torch.cuda.synchronize()
            out["weights_gb"] = round(torch.cuda.memory_allocated() / 2**30, 2)
            torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        actor = realcode.actor_class()(model)
        actor.packing_samples = False  # set by Actor.__init__ only when it loads a path itself
        actor.gradient_checkpointing_enable()
        seq = torch.randint(0, shape["vocab_size"], (1, tokens), device=device)
        mask = torch.zeros(1, tokens - 1, dtype=torch.long, device=device)
        mask[:, -action:] = 1
        logp = actor(seq, mask, torch.ones_like(seq))
        loss = -(logp * mask).sum() / mask.sum()  # the policy-gradient term's shape: log-probs of the actions
        loss.backward()
        out.update(go=True, seconds=round(time.perf_counter() - t0, 2))
    except torch.OutOfMemoryError as exc:
        out.update(go=False, error=f"OutOfMemoryError: {str(exc).splitlines()[0]}")
    finally:
        torch.set_default_dtype(default)
        del model, actor
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() / 2**30
        out["peak_memory_gb"] = round(peak, 2)
        out["card_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 2)
        if out.get("go") and "parameters" in out:
            # One GPU holds all bf16 weights and grads here; the job's ZeRO-3 shards them and the AdamW
            # states (fp32 master, m, v: 12 bytes a parameter) over its GPUs, while each GPU still holds
            # its own sequence's activations and logits. An estimate, not a measurement:
            activations = peak - 2 * out["weights_gb"]
            out["activations_and_logits_gb"] = round(activations, 2)
            out["zero3_8gpu_estimate_gb"] = round(activations + 16 * out["parameters"] / 8 / 2**30, 2)
        torch.cuda.empty_cache()
    return out


def smoke_part(model_dir: Path, tiny: bool, work: Path) -> dict:
    """train_ppo_ray itself, 1 GPU, one episode, only where vllm, ray and deepspeed import. The profile agent
    is left out (pipeline.use_profile=false), so that the job needs no judge endpoint."""
    missing = [m for m in ("vllm", "ray", "deepspeed") if importlib.util.find_spec(m) is None]
    if missing:
        return {"skipped": f"{', '.join(missing)} not importable here (the OpenRLHF GPU environment is "
                           f"pip install 'comam-bench[openrlhf]', see docs/openrlhf.md)"}
    from comam_bench.training.openrlhf.command import train_command
    from comam_bench.training.openrlhf.trainer import OpenRLHFTrainer

    plan = plan_for(model_dir, tiny, ["pipeline.use_profile=false", "train.agents=[extraction, retrieval]",
                                      "openrlhf.vllm_gpu_memory_utilization=0.3"])
    job = work / "openrlhf-job"
    save = str(work / "saved")
    OpenRLHFTrainer().write_job(plan, job, save)
    argv = train_command(plan, save) + ["--train.num_episodes", "1"]
    t0 = time.perf_counter()
    # agent.py imports comam_bench: this checkout, for the driver and the local Ray workers it starts
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, *argv[1:]], cwd=job, env=env, capture_output=True, text=True,
                          timeout=240)
    return {"returncode": done.returncode, "seconds": round(time.perf_counter() - t0, 1),
            "saved": Path(save, "config.json").is_file(), "tail": (done.stdout + done.stderr)[-3000:]}


def run(model_dir: Path, device: str, tiny: bool, work: Path, shape: dict) -> dict:
    """Every part; one failing part is recorded and the next still runs."""
    report: dict[str, Any] = {}
    try:
        plan = plan_for(model_dir, tiny)
    except Exception as exc:  # noqa: BLE001 - recorded, as every part below
        return {"error": f"{type(exc).__name__}: {exc}"}
    state: dict[str, Any] = {}

    def rollout():
        report_, state["responses"], state["tok"] = rollout_part(plan, model_dir, device)
        return report_

    def experience():
        report_, state["experiences"], _ = experience_part(plan, state["responses"], state["tok"])
        return report_

    tokens, action = (256, 64) if tiny else (32768, 3072)
    shapes = [("tiny", shape)] if tiny else [("qwen2.5-3b", QWEN_3B), ("qwen2.5-7b", QWEN_7B)]
    parts = [("rollout", rollout), ("experience", experience),
             ("logprobs", lambda: logprob_part(state["experiences"], model_dir, device,
                                             plan.recipe.rollout.temperature))]
    parts += [(f"memory_{name}", lambda name=name, shape=shape: memory_part(name, shape, tokens, action, device))
              for name, shape in shapes]
    parts.append(("train_ppo_ray", lambda: smoke_part(model_dir, tiny, work)))
    for name, part in parts:
        try:
            report[name] = part()
        except Exception as exc:  # noqa: BLE001
            report[name] = {"error": f"{type(exc).__name__}: {exc}"}
        print(f"openrlhf.{name}", json.dumps(report[name])[:2000], flush=True)
    return report

