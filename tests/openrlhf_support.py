"""Test support for the OpenRLHF contract tests: a fake async rollout engine, a tiny tokenizer, and OpenRLHF's
own experience and advantage code imported from the installed 0.11.2 package.

experience_maker.py imports ray, deepspeed (through openrlhf.models.utils) and the Ray launcher at module
level, and samples_generator.py imports ray, vllm and the vLLM engine module, none of which installs on a
CPU machine. `advantage_code()` and `samples_code()` import the real files with those replaced by empty
placeholder modules for the duration of the import (the packages `openrlhf.models` and
`openrlhf.trainer.ray` are registered bare, so their heavy __init__ files do not run). The functions under
test run unmodified and touch no placeholder: SamplesGenerator._process_response_into_experience (executor
response -> Experience), RemoteExperienceMaker.split_rollout_samples (index, micro-batches) and
compute_advantages_and_returns with what it calls (compute_reward, apply_length_penalties,
get_cumulative_returns). `openrlhf_experiences` chains them as OpenRLHF does, standing in only for the GPU
forward passes between them (with --algo.kl.use_loss, OpenRLHF's own kl there is zeros).
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import torch

# --------------------------------------------------------------------------- OpenRLHF's advantage code


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


def _import_with_placeholders(name: str, extra: dict[str, types.ModuleType]):
    root = Path(importlib.util.find_spec("openrlhf").submodule_search_locations[0])
    stubs = {"ray": types.ModuleType("ray"), "deepspeed": types.ModuleType("deepspeed"),
             "vllm": types.ModuleType("vllm"),
             "openrlhf.models": _bare_package("openrlhf.models", root / "models"),
             "openrlhf.trainer.ray": _bare_package("openrlhf.trainer.ray", root / "trainer" / "ray"), **extra}
    with _placeholders(stubs):
        sys.modules.pop(name, None)
        sys.modules.pop("openrlhf.models.utils", None)
        module = importlib.import_module(name)
    sys.modules.pop(name, None)  # nobody else should find the placeholder-built module
    sys.modules.pop("openrlhf.models.utils", None)
    return module


def advantage_code():
    """openrlhf.trainer.ppo_utils.experience_maker.RemoteExperienceMaker, from the installed package."""
    launcher = types.ModuleType("openrlhf.trainer.ray.launcher")
    launcher.RayActorGroup = object
    return _import_with_placeholders("openrlhf.trainer.ppo_utils.experience_maker",
                                     {"openrlhf.trainer.ray.launcher": launcher}).RemoteExperienceMaker


def samples_code():
    """openrlhf.trainer.ppo_utils.samples_generator.SamplesGenerator, from the installed package."""
    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = object  # only _dispatch_prompts_to_vllm, not under test, builds one
    engine = types.ModuleType("openrlhf.trainer.ray.vllm_engine")
    engine.batch_vllm_engine_call = None
    return _import_with_placeholders("openrlhf.trainer.ppo_utils.samples_generator",
                                     {"vllm": vllm, "openrlhf.trainer.ray.vllm_engine": engine}).SamplesGenerator


def experience(response: dict, max_len: int):
    """OpenRLHF's own Experience of one executor response (SamplesGenerator._process_response_into_experience)."""
    return samples_code()._process_response_into_experience(None, response, max_len=max_len)


def openrlhf_experiences(responses: list[dict], args, pad_token_id: int) -> list:
    """The executor's responses through OpenRLHF's own code, as PPOTrainer runs it: each response into an
    Experience, the batch split into --rollout.micro_batch_size micro-batches with their indices, then
    compute_advantages_and_returns under the parsed args. Between the split and the advantages OpenRLHF runs
    the actor / reference forward passes (GPU); with --algo.kl.use_loss their only input to the advantages
    is kl, which OpenRLHF sets to zeros there, as done here."""
    gen, maker = samples_code(), advantage_code()
    samples = [gen._process_response_into_experience(None, r, max_len=args.data.max_len) for r in responses]
    fake = types.SimpleNamespace(args=args, strategy=types.SimpleNamespace(args=args),
                                 tokenizer=types.SimpleNamespace(pad_token_id=pad_token_id),
                                 advantage_estimator=args.algo.advantage.estimator,
                                 kl_ctl=types.SimpleNamespace(value=args.algo.kl.init_coef))
    fake.get_cumulative_returns = maker.get_cumulative_returns.__get__(fake)
    micro = maker.split_rollout_samples(fake, samples)
    assert args.algo.kl.use_loss, "without use_loss the kl between the two steps comes from the reference model"
    for batch in micro:
        batch.kl = torch.zeros_like(batch.action_mask, dtype=torch.float32)
    return maker.compute_advantages_and_returns(fake, micro)


# --------------------------------------------------------------------------- a tokenizer and a fake engine
CHAT_TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
                 "{% if add_generation_prompt %}<|assistant|>\n{% endif %}")


def byte_tokenizer():
    """A byte-level tokenizer without merges: every text round-trips exactly (newlines and tags included)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<eos>", "<unk>"]
    vocab = {t: i for i, t in enumerate(specials + sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    out = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    out.chat_template = CHAT_TEMPLATE
    return out


ROLE_MARKERS = {"extraction": "You are the Memory Extractor", "profile": "You are the Profile Abstractor",
                "retrieval": "You are the Retrieval agent"}


def role_of(prompt_text: str) -> str:
    for role, marker in ROLE_MARKERS.items():
        if marker in prompt_text:
            return role
    raise AssertionError(f"no role marker in prompt {prompt_text[:80]!r}")


class FakeEngine:
    """`await generate(prompt_token_ids, sampling_params)` like OpenRLHF's RolloutRayActor, scripted per role.

    The k-th request with the same prompt gets outputs[role][(k + offset) % len]: the G copies of one
    extraction prompt get different samples, and a rerun is deterministic."""

    def __init__(self, tokenizer, outputs: dict[str, list[str]]) -> None:
        self.tokenizer = tokenizer
        self.outputs = outputs
        self.seen: dict[tuple, int] = {}
        self.calls: list[dict] = []

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        text = self.tokenizer.decode(prompt_token_ids, skip_special_tokens=True)
        role = role_of(text)
        key = tuple(prompt_token_ids)
        k = self.seen.get(key, 0)
        self.seen[key] = k + 1
        choices = self.outputs[role]
        out = choices[(k + sum(prompt_token_ids)) % len(choices)]
        ids = self.tokenizer(out, add_special_tokens=False)["input_ids"][: sampling_params.max_tokens]
        ids = ids + [self.tokenizer.eos_token_id]
        self.calls.append({"role": role, "prompt_ids": list(prompt_token_ids), "ids": ids,
                           "max_tokens": sampling_params.max_tokens, "temperature": sampling_params.temperature})
        logprobs = [{t: SimpleNamespace(logprob=-0.25)} for t in ids] if sampling_params.logprobs is not None else None
        return SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, text=self.tokenizer.decode(ids),
                                                        finish_reason="stop", logprobs=logprobs)])


class Params:
    """The attributes of vLLM's SamplingParams that OpenRLHF sets and executors read."""

    def __init__(self, temperature=1.0, max_tokens=None, logprobs=1) -> None:
        self.temperature, self.max_tokens, self.logprobs, self.top_p, self.n = temperature, max_tokens, logprobs, 1.0, 1
