"""hf_cache.growing_cache: decoding on the in-place KV cache gives exactly what transformers' DynamicCache
gives (sampled tokens and logits), through padded batches, a shared prefill and buffer regrowth."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_llm_hf import CHATS, chat, tiny_model, tiny_tokenizer  # noqa: E402

from comam_bench.llm import hf_cache  # noqa: E402
from comam_bench.llm.hf import TransformersLLM  # noqa: E402


def llm(batch_size: int = 3) -> TransformersLLM:
    tok = tiny_tokenizer()
    return TransformersLLM(tiny_model(len(tok), window=128), tok, spec="tiny", batch_size=batch_size)


@pytest.mark.parametrize("chats", [CHATS, [CHATS[1]] * 3], ids=["padded batches", "one prompt shared"])
def test_generation_equals_the_dynamic_cache(chats, monkeypatch):
    made = []
    real = hf_cache.growing_cache
    monkeypatch.setattr(hf_cache, "growing_cache", lambda room: made.append(room) or real(room))
    model = llm()
    runs = []
    for growing in (False, True):
        model.growing_cache = growing
        runs.append([g.completion_ids for g in model.generate(chats, max_new_tokens=24, temperature=1.0, seed=7,
                                                              ignore_eos=True)])
    assert runs[0] == runs[1] and all(len(ids) == 24 for ids in runs[0])
    assert made == [24] * -(-len(chats) // 3)  # one per micro-batch, room for the reply, the growing run only


def test_logits_and_cache_are_bit_identical_step_by_step():
    """Room for 2 tokens: the buffers are reallocated every other step, and nothing changes."""
    model = llm().model
    prompt = torch.tensor([[2, 5, 6, 7, 8, 9], [2, 10, 11, 12, 13, 14]])
    caches = [None, hf_cache.growing_cache(2)]
    ids = [prompt, prompt]
    for _ in range(10):
        outs = [model(input_ids=i, past_key_values=c, use_cache=True) for i, c in zip(ids, caches)]
        assert torch.equal(outs[0].logits, outs[1].logits)
        caches = [o.past_key_values for o in outs]
        nxt = outs[0].logits[:, -1].argmax(-1, keepdim=True)
        ids = [nxt, nxt]
    for a, b in zip(caches[0].layers, caches[1].layers):
        assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
    grown = caches[1].layers[0]
    assert grown.keys.shape[-2] == prompt.shape[1] + 9 and grown._buffer[0].shape[-2] in (grown.keys.shape[-2] + 1,
                                                                                          grown.keys.shape[-2] + 2)


def test_reshaping_the_cache_keeps_it_right():
    """A prefill repeated for a group (batch_repeat_interleave), then decoding: each row sees the prefix."""
    model = llm().model
    prompt = torch.tensor([[2, 5, 6, 7]])
    plain, growing = model(input_ids=prompt, use_cache=True), model(input_ids=prompt, use_cache=True,
                                                                       past_key_values=hf_cache.growing_cache(4))
    for out in (plain, growing):
        out.past_key_values.batch_repeat_interleave(3)
    step = torch.tensor([[8], [9], [10]])
    a = model(input_ids=step, past_key_values=plain.past_key_values, use_cache=True).logits
    b = model(input_ids=step, past_key_values=growing.past_key_values, use_cache=True).logits
    assert torch.equal(a, b)
