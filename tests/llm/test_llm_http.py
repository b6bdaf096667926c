"""The OpenAI-compatible backend against a real local HTTP server started here (127.0.0.1, a free port)."""
from __future__ import annotations

import json
import socket
import threading

import pytest

from comam_bench.llm import BackendError, ModelLoadError, load_llm
from comam_bench.llm import http as http_backend

KEY = "sk-test-0123456789"


def _last(body: dict) -> str:
    return body["messages"][-1]["content"]


def echo(body: dict) -> str:
    return f"echo: {_last(body)}"


def echo_usage(body: dict) -> dict:
    return {"prompt_tokens": 100 + len(_last(body)), "completion_tokens": 7, "total_tokens": 107 + len(_last(body))}


@pytest.fixture()
def server(fake_openai):
    """The shared fake server (tests/fake_openai.py), echoing the last message."""
    return fake_openai(content=echo, usage=echo_usage)


def post_headers(server) -> list[dict]:
    return [r.headers for r in server.requests if r.method == "POST"]


@pytest.fixture()
def waits(monkeypatch):
    """Record the backoff waits instead of sleeping them."""
    seen: list[float] = []
    monkeypatch.setattr(http_backend, "_sleep", seen.append)
    return seen


def user(text):
    return [{"role": "user", "content": text}]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- normal answers
def test_answers_with_usage_and_server_window(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url}")
    out = llm.generate([user("hello there")], max_new_tokens=5, temperature=0.0, seed=3, stop=["\n"], agent="x")
    assert (out[0].text, out[0].prompt_tokens, out[0].completion_tokens) == ("echo: hello there", 111, 7)
    sent = server.posts[0]
    assert sent == {"model": "tiny-chat", "messages": user("hello there"), "max_tokens": 5, "temperature": 0.0,
                    "seed": 3, "stop": ["\n"]}
    assert "authorization" not in {k.lower() for k in post_headers(server)[0]}  # no key, no header
    assert llm.context_window == 4096  # max_model_len from /v1/models
    ident = llm.identity()
    assert ident["server_models"] == ["tiny-chat"] and ident["model"] == "tiny-chat"
    assert ident["token_counts"] == "approx-chars/4"


def test_batch_order_is_kept_and_seeds_differ(server):
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url},concurrency=4")
    texts = [f"sleep {0.05 * (5 - i)} #{i}" for i in range(6)]  # the first ones finish last
    out = llm.generate([user(t) for t in texts], seed=10)
    assert [g.text for g in out] == [f"echo: {t}" for t in texts]
    assert sorted(p["seed"] for p in server.posts) == list(range(10, 16))
    assert server.max_inflight > 1  # the requests really overlapped


def test_missing_usage_is_counted(fake_openai):
    srv = fake_openai(content=echo, usage=None)
    llm = load_llm(f"openai:tiny-chat,base_url={srv.base_url}")
    g = llm.generate([user("abcdefgh")])[0]
    assert g.prompt_tokens == llm.count_chat_tokens(user("abcdefgh")) == 2 + 4 + 3
    assert g.completion_tokens == llm.count_tokens("echo: abcdefgh") == 4


def test_model_name_taken_from_a_single_model_server(server):
    llm = load_llm(f"openai:,base_url={server.base_url},window=1000")
    assert llm.model_name == "tiny-chat" and llm.context_window == 1000


def test_exact_counts_with_a_local_tokenizer(server, tmp_path):
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel(vocab={"<unk>": 0, "a": 1, "b": 2}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>").save_pretrained(tmp_path)
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url},tokenizer={tmp_path}")
    assert llm.count_tokens("a b a b zz") == 5
    assert llm.identity()["token_counts"] == f"tokenizer:{tmp_path}"


def test_long_prompt_is_cut_from_the_left(server):
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url},window=40")
    chat = [{"role": "system", "content": "s" * 200}, {"role": "user", "content": "x" * 200 + "END"}]
    llm.generate([chat], max_new_tokens=10)
    sent = server.posts[0]["messages"]
    assert llm.truncated_prompts == 1
    assert len(sent) == 1 and sent[0]["content"].endswith("END")
    assert llm.count_chat_tokens(sent) <= 30


# --------------------------------------------------------------------------- failures
def test_retry_after_a_500_then_success(server, waits):
    server.script = [(500, '{"error": "overloaded"}', {})]
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url},backoff=0.25")
    assert llm.generate([user("hi")])[0].text == "echo: hi"
    assert len(server.posts) == 2 and waits == [0.25]


def test_429_respects_retry_after(server, waits):
    server.script = [(429, '{"error": "slow down"}', {"Retry-After": "3"}), (503, "busy", {})]
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url},backoff=0.5")
    assert llm.generate([user("hi")])[0].text == "echo: hi"
    assert waits == [3.0, 1.0]  # Retry-After first, then exponential backoff (0.5 * 2**1)


def test_client_errors_fail_at_once(server, waits):
    server.script = [(400, '{"error": "maximum context length exceeded"}', {})]
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url}")
    with pytest.raises(BackendError, match="HTTP 400.*maximum context length"):
        llm.generate([user("hi")])
    assert len(server.posts) == 1 and waits == []


@pytest.mark.parametrize("body", ["<html>oops</html>", '{"object": "chat.completion"}', '{"choices": []}'])
def test_garbage_answers_fail_after_retries(server, waits, body):
    server.script = [(200, body, {})] * 3
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url},retries=2")
    with pytest.raises(BackendError, match="not a chat completion.*after 3 tries"):
        llm.generate([user("hi")])
    assert len(server.posts) == 3 and len(waits) == 2


def test_nothing_listening_fails_fast_at_load():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(BackendError, match=f"nothing answers at {url}; start the server or fix base_url"):
        load_llm(f"openai:m,base_url={url}")


def test_server_gone_during_a_run(fake_openai, waits):
    srv = fake_openai(content=echo)
    llm = load_llm(f"openai:tiny-chat,base_url={srv.base_url},retries=2")
    srv.close()
    with pytest.raises(BackendError, match="nothing answers at .*after 3 tries"):
        llm.generate([user("hi")])
    assert len(waits) == 2


# --------------------------------------------------------------------------- secrets
def test_api_key_is_sent_but_never_shown(server, waits, monkeypatch):
    monkeypatch.setenv("MY_KEY", KEY)
    spec = f"openai:tiny-chat,base_url={server.base_url},key_env=MY_KEY,retries=1"
    llm = load_llm(spec)
    llm.generate([user("hi")])
    assert post_headers(server)[-1]["Authorization"] == f"Bearer {KEY}"
    server.script = [(500, "echoing your header: {auth}", {})] * 2  # a server that leaks the key back
    with pytest.raises(BackendError) as err:
        llm.generate([user("hi")])
    assert "echoing your header: Bearer ***" in str(err.value)
    shown = " ".join([str(err.value), repr(llm), json.dumps(llm.identity()), llm.spec])
    assert KEY not in shown


def test_credentials_in_base_url_are_not_recorded(server):
    url = server.base_url.replace("http://", "http://alice:pw-secret@")
    llm = load_llm(f"openai:tiny-chat,base_url={url}")
    assert llm.generate([user("hi")])[0].text == "echo: hi"
    shown = " ".join([repr(llm), json.dumps(llm.identity()), llm.spec])
    assert "pw-secret" not in shown and server.base_url in shown


def test_named_key_env_must_exist(server, monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ModelLoadError, match="NO_SUCH_KEY_VAR"):
        load_llm(f"openai:tiny-chat,base_url={server.base_url},key_env=NO_SUCH_KEY_VAR")


def test_rejected_key_is_explained(fake_openai, monkeypatch):
    srv = fake_openai()
    srv.httpd.RequestHandlerClass.do_GET = lambda self: self._send(401, '{"error": "bad key"}', {})
    monkeypatch.setenv("MY_KEY", KEY)
    with pytest.raises(BackendError, match="refused the API key") as err:
        load_llm(f"openai:tiny-chat,base_url={srv.base_url},key_env=MY_KEY")
    assert KEY not in str(err.value)


def test_concurrency_caps_requests_from_all_threads_together(server):
    """Parallel contexts share one backend: `concurrency` bounds its requests in flight, whatever the threads."""
    llm = load_llm(f"openai:tiny-chat,base_url={server.base_url},concurrency=2")
    assert llm.thread_safe
    outs = {}

    def context(i):
        outs[i] = llm.generate([user(f"sleep 0.05 {i}-{j}") for j in range(3)])

    threads = [threading.Thread(target=context, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.max_inflight == 2
    assert [g.text for g in outs[3]] == [f"echo: sleep 0.05 3-{j}" for j in range(3)]
