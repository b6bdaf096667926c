"""Likelihood scores over HTTP, against real local servers (127.0.0.1, a free port): one that computes prompt
log-probabilities with a tiny transformers model, as vLLM's /completions does with echo + logprobs, and one
that answers without them."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from test_likelihood_hf import CHAT, OPTIONS  # noqa: E402
from test_llm_hf import tiny_model, tiny_tokenizer  # noqa: E402

from comam_bench.llm import BackendError, load_llm  # noqa: E402
from comam_bench.llm.hf import TransformersLLM  # noqa: E402


def completion(model, tok, prompt: str, with_logprobs: bool) -> dict:
    """One echoed choice: every prompt token with its text offset, logprob and top-1, plus one generated token."""
    enc = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
    ids, offsets = enc["input_ids"], [start for start, _ in enc["offset_mapping"]]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].double(), -1)
    nxt = int(logp[-1].argmax())
    text = prompt + " " + tok.convert_ids_to_tokens(nxt)
    tokens = tok.convert_ids_to_tokens(ids + [nxt])
    token_logprobs = [None] + [float(logp[i - 1, t]) for i, t in enumerate(ids) if i > 0] + [float(logp[-1, nxt])]
    top = [None] + [{tok.convert_ids_to_tokens(int(logp[i].argmax())): float(logp[i].max())}
                    for i in range(len(ids))]
    choice = {"text": text, "finish_reason": "length", "logprobs": None}
    if with_logprobs:
        choice["logprobs"] = {"tokens": tokens, "token_logprobs": token_logprobs, "top_logprobs": top,
                              "text_offset": offsets + [len(prompt) + 1]}
    return choice


def server(fake_openai, model, tok, with_logprobs: bool):
    """The shared fake server (tests/fake_openai.py) answering /completions as vLLM does with echo + logprobs."""
    return fake_openai(models=[{"id": "tiny", "max_model_len": 128}],
                       completion=lambda prompt: completion(model, tok, prompt, with_logprobs))


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tok = tiny_tokenizer()
    folder = tmp_path_factory.mktemp("tiny-tokenizer")
    tok.save_pretrained(folder)
    model = tiny_model(len(tok), window=128)
    return model, tok, folder


def test_scores_over_http_equal_the_local_backend(setup, fake_openai):
    model, tok, folder = setup
    srv = server(fake_openai, model, tok, with_logprobs=True)
    llm = load_llm(f"openai:tiny,base_url={srv.base_url},tokenizer={folder},retries=0")
    remote = llm.loglikelihood(CHAT, OPTIONS)
    local = TransformersLLM(model, tok).loglikelihood(CHAT, OPTIONS)
    for r, loc in zip(remote, local):
        assert r.logprob == pytest.approx(loc.logprob, abs=1e-5)
        assert (r.tokens, r.chars, r.greedy) == (loc.tokens, loc.chars, loc.greedy)
    (body,) = srv.posts  # one request for the four options
    assert body["echo"] is True and body["logprobs"] == 1 and len(body["prompt"]) == 4
    llm.close()


def test_a_server_without_prompt_logprobs_is_a_clear_error(setup, fake_openai):
    model, tok, folder = setup
    srv = server(fake_openai, model, tok, with_logprobs=False)
    llm = load_llm(f"openai:tiny,base_url={srv.base_url},tokenizer={folder},retries=0")
    with pytest.raises(BackendError, match="returned no prompt log-probabilities.*such as vLLM"):
        llm.loglikelihood(CHAT, OPTIONS)
    without_tokenizer = load_llm(f"openai:tiny,base_url={srv.base_url},retries=0")
    with pytest.raises(BackendError, match="tokenizer=PATH"):
        without_tokenizer.loglikelihood(CHAT, OPTIONS)
