"""Continuation log-likelihoods on the transformers backend, checked against a forward pass done here."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from test_llm_hf import tiny_model, tiny_tokenizer  # noqa: E402

from comam_bench.llm.hf import TransformersLLM  # noqa: E402

CHAT = [{"role": "system", "content": "my likes jazz and tea"}, {"role": "user", "content": "what is your name"}]
OPTIONS = ["my name", "the cat sat on a mat", "one", "hello world the dog"]


@pytest.fixture(scope="module")
def tiny():
    tok = tiny_tokenizer()
    return TransformersLLM(tiny_model(len(tok), window=128), tok, spec="tiny")


def direct(llm, chat, continuation):
    """The textbook computation: template + continuation through the model, log-softmax, pick, sum."""
    text = llm.tokenizer.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
    prefix = llm.tokenizer(text, add_special_tokens=False)["input_ids"]
    cont = llm.tokenizer(continuation, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = llm.model(input_ids=torch.tensor([prefix + cont])).logits[0].double()
    logp = torch.log_softmax(logits, -1)
    rows = range(len(prefix) - 1, len(prefix) + len(cont) - 1)
    total = sum(float(logp[r, t]) for r, t in zip(rows, cont))
    greedy = all(int(logp[r].argmax()) == t for r, t in zip(rows, cont))
    return total, len(cont), greedy


def test_loglikelihood_equals_a_direct_forward_pass(tiny):
    scores = tiny.loglikelihood(CHAT, OPTIONS)
    assert len(scores) == len(OPTIONS)
    for score, option in zip(scores, OPTIONS):
        total, n, greedy = direct(tiny, CHAT, option)
        assert score.logprob == pytest.approx(total, abs=1e-5)
        assert (score.tokens, score.chars, score.greedy) == (n, len(option), greedy)
        assert score.logprob < 0


def test_prefix_reuse_equals_separate_passes_and_feeds_fewer_tokens(tiny):
    long_chat = [{"role": "user", "content": " ".join(["the cat sat on a mat"] * 12)}] + CHAT
    before = tiny.forward_tokens
    reused = tiny.loglikelihood(long_chat, OPTIONS)
    fed_reused = tiny.forward_tokens - before
    separate = tiny.loglikelihood(long_chat, OPTIONS, reuse_prefix=False)
    fed_separate = tiny.forward_tokens - before - fed_reused
    for a, b in zip(reused, separate):
        assert a.logprob == pytest.approx(b.logprob, abs=1e-5)
        assert (a.tokens, a.chars, a.greedy) == (b.tokens, b.chars, b.greedy)
    assert fed_reused < fed_separate / 2  # the ~80-token prefix once instead of four times


def test_greedy_flag_is_true_for_the_models_own_greedy_continuation(tiny):
    text = tiny.generate([CHAT], max_new_tokens=4, ignore_eos=True)[0].text
    own, other = tiny.loglikelihood(CHAT, [text, "tea tea tea tea"])
    if text.split() != ["tea"] * 4:
        assert own.greedy and not other.greedy


def test_empty_continuation_and_long_prefix_cut_to_the_window(tiny):
    empty = tiny.loglikelihood(CHAT, [""])[0]
    assert (empty.logprob, empty.tokens, empty.greedy) == (0.0, 0, True)
    huge = [{"role": "user", "content": " ".join(["one two three"] * 80)}]
    before = tiny.truncated_prompts
    scores = tiny.loglikelihood(huge, OPTIONS)  # 240+ words into a 128-token window: cut, not a crash
    assert tiny.truncated_prompts == before + 1 and all(s.logprob < 0 for s in scores)


def test_vllm_backend_reads_prompt_logprobs_as_vllm_documents_them(tiny, monkeypatch):
    """vLLM is not installed here: a stand-in engine returns RequestOutput.prompt_logprobs in vLLM's documented
    shape (list of None | {token id: Logprob(logprob, rank)}), computed with the tiny model."""
    import sys
    import types
    from dataclasses import dataclass

    from comam_bench.llm.vllm_backend import VLLMLLM

    @dataclass
    class Logprob:
        logprob: float
        rank: int

    class Engine:
        llm_engine = types.SimpleNamespace(model_config=types.SimpleNamespace(max_model_len=128))

        def get_tokenizer(self):
            return tiny.tokenizer

        def generate(self, prompts, params, use_tqdm=False):
            assert params.prompt_logprobs == 1 and params.max_tokens == 1
            outs = []
            for p in prompts:
                ids = p["prompt_token_ids"]
                with torch.no_grad():
                    logp = torch.log_softmax(tiny.model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
                rows = [None] + [{t: Logprob(float(logp[i - 1, t]), int((logp[i - 1] > logp[i - 1, t]).sum()) + 1)}
                                 for i, t in enumerate(ids) if i > 0]
                outs.append(types.SimpleNamespace(prompt_logprobs=rows, prompt_token_ids=ids))
            return outs

    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(SamplingParams=lambda **kw: types.SimpleNamespace(**kw)))
    scores = VLLMLLM(Engine(), spec="vllm:tiny").loglikelihood(CHAT, OPTIONS)
    for score, ref in zip(scores, tiny.loglikelihood(CHAT, OPTIONS)):
        assert score.logprob == pytest.approx(ref.logprob, abs=1e-5)
        assert (score.tokens, score.chars, score.greedy) == (ref.tokens, ref.chars, ref.greedy)
