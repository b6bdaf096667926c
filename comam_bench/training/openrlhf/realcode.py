"""OpenRLHF 0.11.2's own rollout-to-loss code, importable where its GPU-only dependencies are not installed.

The contract tests and benchmarks/gpu_check.py run OpenRLHF's real functions on the executor's output, on
machines without ray, vllm, deepspeed or flash-attn. The modules that hold those functions import them at
module level, so each is imported here with the missing ones replaced by empty placeholder modules for the
duration of the import (the packages `openrlhf.models` and `openrlhf.trainer.ray` are registered bare, so
their heavy __init__ files do not run); the placeholders are removed afterwards. The functions used run
unmodified and touch no placeholder:
  SamplesGenerator._process_response_into_experience   executor response -> Experience
  RemoteExperienceMaker.split_rollout_samples          indices, --rollout.micro_batch_size micro-batches
  RemoteExperienceMaker.compute_advantages_and_returns rewards -> per-token advantages (+ compute_reward,
                                                       apply_length_penalties, get_cumulative_returns)
  Actor.forward                                        the trained policy's action log-probabilities
Where a dependency is really installed, the real module is used instead of a placeholder. Nothing here is
imported by `import comam_bench`; it imports torch and openrlhf when called.
"""
from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def _placeholders(names: dict[str, types.ModuleType]):
    saved = {k: sys.modules.get(k) for k in names}
    sys.modules.update(names)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def _bare_package(name: str, path: Path) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = [str(path)]
    return mod


def _module(name: str, **attrs: Any) -> types.ModuleType:
    mod = types.ModuleType(name)
    # A spec, so that importlib.util.find_spec (transformers' is-it-installed probes) answers instead of raising;
    # those probes then read the distribution's version, which is absent, and report it not installed.
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    mod.__dict__.update(attrs)
    return mod


def _missing(name: str) -> bool:
    return importlib.util.find_spec(name.split(".")[0]) is None


def import_real(name: str, extra: dict[str, types.ModuleType] | None = None) -> types.ModuleType:
    """Import OpenRLHF module `name` with placeholders for what is not installed; returns the module."""
    spec = importlib.util.find_spec("openrlhf")
    if spec is None:
        raise ImportError("OpenRLHF is not installed: pip install --no-deps openrlhf==0.11.2")
    root = Path(next(iter(spec.submodule_search_locations)))
    stubs = {k: v for k, v in {"ray": _module("ray"), "deepspeed": _module("deepspeed"), "vllm": _module("vllm"),
                               **(extra or {})}.items() if _missing(k)}
    stubs["openrlhf.models"] = _bare_package("openrlhf.models", root / "models")
    stubs["openrlhf.trainer.ray"] = _bare_package("openrlhf.trainer.ray", root / "trainer" / "ray")
    heavy = {"openrlhf.trainer.ray.launcher": _module("openrlhf.trainer.ray.launcher", RayActorGroup=object),
             "openrlhf.trainer.ray.vllm_engine": _module("openrlhf.trainer.ray.vllm_engine",
                                                         batch_vllm_engine_call=None)}
    stubs.update({k: v for k, v in heavy.items() if k != name})  # Ray actors: never used by the functions
    with _placeholders(stubs):
        for dependant in (name, "openrlhf.models.utils", "openrlhf.models.ring_attn_utils"):
            sys.modules.pop(dependant, None)
        module = importlib.import_module(name)
        for dependant in (name, "openrlhf.models.utils", "openrlhf.models.ring_attn_utils"):
            sys.modules.pop(dependant, None)  # nobody else should find a placeholder-built module
    return module


def samples_generator() -> type:
    """openrlhf.trainer.ppo_utils.samples_generator.SamplesGenerator."""
    vllm = _module("vllm", SamplingParams=object)  # only _dispatch_prompts_to_vllm builds one
    return import_real("openrlhf.trainer.ppo_utils.samples_generator", {"vllm": vllm}).SamplesGenerator


def experience_maker() -> type:
    """openrlhf.trainer.ppo_utils.experience_maker.RemoteExperienceMaker."""
    return import_real("openrlhf.trainer.ppo_utils.experience_maker").RemoteExperienceMaker


def actor_class() -> type:
    """openrlhf.models.actor.Actor (flash-attn's absence makes log_probs_from_logits use its torch path)."""
    flash = {"flash_attn": _module("flash_attn"), "flash_attn.utils": _module("flash_attn.utils"),
             "flash_attn.bert_padding": _module("flash_attn.bert_padding", index_first_axis=None, pad_input=None,
                                                rearrange=None, unpad_input=None),
             "flash_attn.utils.distributed": _module("flash_attn.utils.distributed", all_gather=None)}
    return import_real("openrlhf.models.actor", flash).Actor


def experiences(responses: list[dict], args: Any, pad_token_id: int) -> list:
    """The executor's responses through OpenRLHF's own code as PPOTrainer runs it: each response into an
    Experience, the batch split into micro-batches with their indices, then compute_advantages_and_returns
    under the parsed args (parser.checked_args). Between the split and the advantages OpenRLHF runs the actor
    and reference forward passes; with --algo.kl.use_loss their only input to the advantages is kl, which
    OpenRLHF sets to zeros there, as done here."""
    import torch

    if not args.algo.kl.use_loss:
        raise ValueError("without --algo.kl.use_loss the kl between the two steps comes from the reference model")
    gen, maker = samples_generator(), experience_maker()
    samples = [gen._process_response_into_experience(None, r, max_len=args.data.max_len) for r in responses]
    fake = types.SimpleNamespace(args=args, strategy=types.SimpleNamespace(args=args),
                                 tokenizer=types.SimpleNamespace(pad_token_id=pad_token_id),
                                 advantage_estimator=args.algo.advantage.estimator,
                                 kl_ctl=types.SimpleNamespace(value=args.algo.kl.init_coef))
    fake.get_cumulative_returns = maker.get_cumulative_returns.__get__(fake)
    micro = maker.split_rollout_samples(fake, samples)
    for batch in micro:
        batch.kl = torch.zeros_like(batch.action_mask, dtype=torch.float32)
    return maker.compute_advantages_and_returns(fake, micro)
