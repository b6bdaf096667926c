"""Test support for the OpenRLHF contract tests: a fake async rollout engine, a tiny tokenizer, and OpenRLHF's
own experience and advantage code imported from the installed 0.11.2 package (comam_bench.training.openrlhf.
realcode explains how, without ray, vllm, deepspeed or flash-attn).
"""
from __future__ import annotations

from types import SimpleNamespace

from comam_bench.training.openrlhf import realcode


def advantage_code():
    """openrlhf.trainer.ppo_utils.experience_maker.RemoteExperienceMaker, from the installed package."""
    return realcode.experience_maker()


def experience(response: dict, max_len: int):
    """OpenRLHF's own Experience of one executor response (SamplesGenerator._process_response_into_experience)."""
    return realcode.samples_generator()._process_response_into_experience(None, response, max_len=max_len)


def openrlhf_experiences(responses: list[dict], args, pad_token_id: int) -> list:
    """The executor's responses through OpenRLHF's own experience and advantage code (realcode.experiences)."""
    return realcode.experiences(responses, args, pad_token_id)


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
