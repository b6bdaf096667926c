"""The OpenAI-compatible HTTP backend (`openai:`): vLLM, SGLang, Ollama, llama.cpp server, or the real API.

`openai:MODEL[,base_url=http://host:port/v1,key_env=VAR,timeout=60,retries=4,window=N,tokenizer=PATH,
concurrency=8,backoff=0.5]`. The API key is read from the environment variable `key_env` (default
OPENAI_API_KEY, may be unset for local servers); it is sent as a Bearer header and never appears in the
spec, identity(), repr or any error message. Without `tokenizer=` tokens are estimated as characters / 4
(rounded up) plus 4 per message; the server's `usage` counts are used for cost whenever it reports them.
A batch is sent concurrently on a small thread pool; answers come back in order. Request i of a batch
carries seed + i, so identical prompts sampled in one batch differ. The backend is thread-safe: `concurrency`
caps the requests in flight from all threads together (a parallel run's contexts share one backend).
"""
from __future__ import annotations

import email.utils
import math
import os
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Sequence
from urllib.parse import urlsplit, urlunsplit

from comam_bench.api import LLM, Chat, Generation, OptionScore
from comam_bench.llm.spec import BackendError, ModelLoadError, ModelSpec, take_options
from comam_bench.redact import add_basic_credentials, add_query_secrets, add_secret, redact
from comam_bench.errors import ComamBenchError

OPTIONS = {"base_url": str, "key_env": str, "timeout": float, "retries": int, "window": int,
           "tokenizer": str, "concurrency": int, "backoff": float}
DEFAULTS = {"base_url": "http://127.0.0.1:8000/v1", "key_env": None, "timeout": 60.0, "retries": 4,
            "window": None, "tokenizer": None, "concurrency": 8, "backoff": 0.5}
DEFAULT_WINDOW = 8192  # when neither window= nor the server's /models says otherwise
MAX_WAIT = 60.0  # longest sleep between tries, whatever Retry-After asks for


class _Garbage(ComamBenchError):
    """A 200 answer that is not a chat completion."""


class OpenAICompatLLM(LLM):
    """Chat completions over HTTP; see the module docstring for the spec options."""

    thread_safe = True  # httpx.Client is; the in-flight cap and counters below are guarded

    def __init__(self, model: str = "", *, base_url: str = DEFAULTS["base_url"], api_key: str | None = None,
                 timeout: float = 60.0, retries: int = 4, window: int | None = None, tokenizer: str | None = None,
                 concurrency: int = 8, backoff: float = 0.5, spec: str = "") -> None:
        import httpx

        # The URL's user:password@ and ?query are kept apart: paths are joined to the bare URL, the query is
        # sent with every request, and every credential is registered for masking by value.
        self.base_url, self._query, basic = _split_base_url(base_url)
        self.retries, self.backoff, self.concurrency = max(0, retries), backoff, max(1, concurrency)
        self.spec = spec
        self.truncated_prompts = 0
        self.null_replies = 0  # `content: null` answers (a refusal, a tool call): scored as empty, counted here
        self._in_flight = threading.BoundedSemaphore(self.concurrency)  # waits without a pool timeout
        self._count_lock = threading.Lock()
        self._api_key = api_key or None  # private: only the request headers see it
        add_secret(self._api_key)
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        # One Authorization header: the API key wins; a URL's user:password is sent (as Basic) only without one.
        self._client = httpx.Client(timeout=timeout, headers=headers, auth=None if self._api_key else basic,
                                    limits=httpx.Limits(max_connections=self.concurrency))
        self._server = self._probe()
        self.model_name = model or self._only_server_model()
        self.context_window = int(window or self._server.get("max_model_len") or DEFAULT_WINDOW)
        self._tokenizer = _load_tokenizer(tokenizer, self.spec) if tokenizer else None
        self._tokenizer_path = tokenizer

    @classmethod
    def from_spec(cls, ms: ModelSpec) -> "OpenAICompatLLM":
        """Build from a parsed `openai:` spec; the key comes from the env var named by key_env."""
        opts = take_options(ms, OPTIONS, DEFAULTS)
        key_env = opts.pop("key_env")
        if key_env and key_env not in os.environ:
            raise ModelLoadError(f"{redact(str(ms))!r}: the environment variable {key_env} "
                                 "(key_env) is not set")
        api_key = os.environ.get(key_env or "OPENAI_API_KEY")
        return cls(ms.target, api_key=api_key, spec=str(ms), **opts)

    @property
    def spec(self) -> str:
        return self._spec

    @spec.setter
    def spec(self, value: str) -> None:
        # load_llm assigns the spec as typed; a base_url may carry user:password@, which must not be recorded.
        self._spec = redact(value)

    def __repr__(self) -> str:
        return f"OpenAICompatLLM(model={self.model_name!r}, base_url={_public_url(self.base_url)!r})"

    # ------------------------------------------------------------------ server
    def _probe(self) -> dict[str, Any]:
        """GET /models once: fails fast when nothing answers; learns model ids and max_model_len."""
        import httpx

        try:
            resp = self._client.get(self._url("/models"), timeout=min(10.0, self._client.timeout.read or 10.0))
        except httpx.TransportError as exc:
            raise BackendError(_transport_problem(exc, self.base_url)) from None
        if resp.status_code in (401, 403):
            raise BackendError(f"the server at {_public_url(self.base_url)} refused the API key (HTTP "
                               f"{resp.status_code}); set the environment variable named by key_env")
        try:
            models = [m for m in resp.json().get("data", []) if isinstance(m, dict)]
        except (ValueError, AttributeError):
            return {}  # servers without /models still serve chat completions
        info: dict[str, Any] = {"ids": [str(m.get("id")) for m in models]}
        lens = [m.get("max_model_len") for m in models if isinstance(m.get("max_model_len"), int)]
        if lens:
            info["max_model_len"] = lens[0]
        return info

    def _only_server_model(self) -> str:
        ids = self._server.get("ids") or []
        if len(ids) != 1:
            raise ModelLoadError(f"{self.spec!r} names no model and the server at {_public_url(self.base_url)} "
                                 f"serves {len(ids)} ({', '.join(ids[:5])}); write openai:MODEL_NAME")
        return ids[0]

    # ------------------------------------------------------------------ generation
    def generate(self, chats: Sequence[Chat], *, max_new_tokens: int = 256, temperature: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> list[Generation]:
        """One request per chat, `concurrency` at a time; raises BackendError after the retries."""
        bodies = [self._body(chat, max_new_tokens, temperature, None if seed is None else seed + i, kwargs)
                  for i, chat in enumerate(chats)]
        if len(bodies) <= 1:
            return [self._complete(body) for body in bodies]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(bodies))) as pool:
            return list(pool.map(self._complete, bodies))

    def _body(self, chat: Chat, max_new_tokens: int, temperature: float, seed: int | None,
              extra: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model_name, "messages": self._fit(chat, max_new_tokens),
                                "max_tokens": max_new_tokens, "temperature": temperature}
        if seed is not None:
            body["seed"] = seed
        for key in ("stop", "top_p"):  # the only pass-through knobs; agent= and friends stay local
            if key in extra:
                body[key] = extra[key]
        return body

    def _fit(self, chat: Chat, max_new_tokens: int) -> Chat:
        """Cut the oldest text so the estimated prompt fits window - max_new_tokens (as the hf backend does)."""
        limit = max(1, self.context_window - max_new_tokens)
        chat = [dict(m) for m in chat]
        if self.count_chat_tokens(chat) <= limit:
            return chat
        with self._count_lock:
            self.truncated_prompts += 1
        while len(chat) > 1 and self.count_chat_tokens(chat[1:]) >= limit:
            chat.pop(0)
        excess = self.count_chat_tokens(chat) - limit
        if excess > 0:  # one message still too long: keep its tail
            content = chat[0]["content"]
            chars_per_token = len(content) / max(1, self.count_tokens(content))
            chat[0]["content"] = content[min(len(content), math.ceil(excess * chars_per_token)):]
        return chat

    def _complete(self, body: dict[str, Any]) -> Generation:
        data = self._post("/chat/completions", body)
        text = data["text"]
        usage = data["usage"]
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        if data["null"]:
            with self._count_lock:
                self.null_replies += 1
        return Generation(text,
                          int(prompt) if isinstance(prompt, int) else self.count_chat_tokens(body["messages"]),
                          int(completion) if isinstance(completion, int) else self.count_tokens(text),
                          null_content=data["null"])

    # ------------------------------------------------------------------ likelihood
    def loglikelihood(self, chat: Chat, continuations: Sequence[str], **kwargs: Any) -> list[OptionScore]:
        """Scores from /completions with echo + logprobs (see http_likelihood); the chat template is applied
        here, so this needs tokenizer=PATH. BackendError when the server returns no prompt log-probabilities."""
        from comam_bench.llm import http_likelihood

        if self._tokenizer is None or not getattr(self._tokenizer, "chat_template", None):
            raise BackendError(f"{self.spec!r}: scoring over HTTP sends raw text to /completions, so the chat "
                               "template is applied here: pass tokenizer=PATH (the served model's tokenizer "
                               "directory, or its .gguf file)")
        context = self._tokenizer.apply_chat_template(list(chat), add_generation_prompt=True, tokenize=False)
        conts = list(continuations)
        body = http_likelihood.request_body(self.model_name, context, conts)
        data = self._post("/completions", body, parse=lambda resp: _json(resp))
        return http_likelihood.parse_scores(data, context, conts, _public_url(self.base_url))

    def _post(self, path: str, body: dict[str, Any], parse=None) -> dict[str, Any]:
        """POST with retries on connection errors, 429, 5xx and garbage; 4xx is our fault and fails at once."""
        import httpx

        url = self._url(path)
        problem = ""
        for attempt in range(self.retries + 1):
            wait = min(MAX_WAIT, self.backoff * 2 ** attempt)
            try:
                with self._in_flight:
                    resp = self._client.post(url, json=body)
            except httpx.TransportError as exc:
                problem = _transport_problem(exc, self.base_url)
            else:
                if resp.status_code == 429 or resp.status_code >= 500:
                    problem = f"HTTP {resp.status_code}: {self._excerpt(resp.text)}"
                    asked = _retry_after(resp)
                    wait = wait if asked is None else asked
                elif resp.status_code >= 400:
                    raise BackendError(f"the server at {_public_url(self.base_url)} rejected the request for model "
                                       f"{self.model_name!r} (HTTP {resp.status_code}: {self._excerpt(resp.text)}). "
                                       "If the prompt is too long, lower window= or pass tokenizer= for exact counts.")
                else:
                    try:
                        return (parse or _parse_completion)(resp)
                    except _Garbage as exc:
                        problem = f"not a chat completion ({self._excerpt(str(exc))})"
            if attempt < self.retries:
                _sleep(wait)
        raise BackendError(f"{problem} (after {self.retries + 1} tries, model {self.model_name!r})")

    def _url(self, path: str) -> str:
        """The URL of an endpoint: the base URL's path, then `path`, then the base URL's query."""
        return f"{self.base_url}{path}" + (f"?{self._query}" if self._query else "")

    def _excerpt(self, text: str, n: int = 200) -> str:
        """A short piece of a server answer, every credential masked (redacted whole, then cut, so a cut
        never leaves part of a secret) should the server echo a header or the URL."""
        return redact(text)[:n]

    # ------------------------------------------------------------------ tokens
    def count_tokens(self, text: str) -> int:
        """Exact with tokenizer=, else an estimate: characters / 4, rounded up."""
        if self._tokenizer is not None:
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        return math.ceil(len(text) / 4)

    def count_chat_tokens(self, chat: Chat) -> int:
        """Exact through the tokenizer's chat template when there is one, else 4 tokens per message overhead."""
        if self._tokenizer is not None and getattr(self._tokenizer, "chat_template", None):
            text = self._tokenizer.apply_chat_template(list(chat), add_generation_prompt=True, tokenize=False)
            return len(self._tokenizer(text, add_special_tokens=False)["input_ids"])
        return sum(self.count_tokens(m["content"]) + 4 for m in chat) + 3

    # ------------------------------------------------------------------ identity
    def identity(self) -> dict[str, Any]:
        """Spec, server URL (no credentials), model name, what the server says it serves; never the key."""
        out = {"spec": self.spec, "backend": "openai", "base_url": _public_url(self.base_url),
               "model": self.model_name, "window": self.context_window,
               "token_counts": f"tokenizer:{self._tokenizer_path}" if self._tokenizer_path else "approx-chars/4"}
        if self._server.get("ids"):
            out["server_models"] = self._server["ids"]
        if self.null_replies:
            out["null_replies"] = self.null_replies
        return out

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


# ---------------------------------------------------------------------- helpers
def _sleep(seconds: float) -> None:
    """Wait between tries (one place, so tests can record the waits instead of sleeping)."""
    time.sleep(seconds)


def _json(resp: Any) -> Any:
    try:
        return resp.json()
    except ValueError:
        raise _Garbage(f"body is not JSON: {resp.text[:120]!r}") from None


def _parse_completion(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        raise _Garbage(f"body is not JSON: {resp.text[:120]!r}") from None
    try:
        message = data["choices"][0]["message"]
    except (KeyError, IndexError, TypeError):
        raise _Garbage(f"no choices[0].message in {str(data)[:120]!r}") from None
    content = message.get("content") if isinstance(message, dict) else None
    if content is not None and not isinstance(content, str):
        raise _Garbage(f"message content is a {type(content).__name__}, not text")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return {"text": content or "", "usage": usage, "null": content is None}


def _retry_after(resp: Any) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), capped at MAX_WAIT."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    try:
        return min(MAX_WAIT, max(0.0, float(value)))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(MAX_WAIT, max(0.0, when.timestamp() - time.time()))


def _transport_problem(exc: Exception, base_url: str) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return f"nothing answers at {_public_url(base_url)}; start the server or fix base_url"
    if isinstance(exc, httpx.TimeoutException):
        return f"the server at {_public_url(base_url)} did not answer in time ({type(exc).__name__}); raise timeout="
    return f"the connection to {_public_url(base_url)} failed ({type(exc).__name__})"


def _split_base_url(url: str) -> tuple[str, str, tuple[str, str] | None]:
    """(scheme://host:port/path without user:password@ or query, the query, (user, password) or None);
    every credential in it is registered for masking."""
    from urllib.parse import unquote

    parts = urlsplit(url.strip())
    userinfo, _, host = parts.netloc.rpartition("@")
    basic = None
    if userinfo:
        user, _, password = userinfo.partition(":")
        add_basic_credentials(user, password)
        basic = (unquote(user), unquote(password))
    add_query_secrets(parts.query)
    bare = urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))
    return bare, parts.query, basic


def _public_url(url: str) -> str:
    """The URL without any user:password@ part."""
    parts = urlsplit(url)
    host = parts.netloc.rsplit("@", 1)[-1]
    return redact(urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)))


def _load_tokenizer(path: str, spec: str) -> Any:
    """A local tokenizer for exact counts: a transformers directory or a .gguf file."""
    from pathlib import Path

    try:
        from transformers import AutoTokenizer
    except ImportError:
        raise ModelLoadError(f"{spec!r}: tokenizer= needs transformers (`pip install comam-bench[local]`)") from None
    p = Path(path)
    try:
        if p.suffix == ".gguf":
            return AutoTokenizer.from_pretrained(str(p.parent), gguf_file=p.name)
        return AutoTokenizer.from_pretrained(str(p))
    except Exception as exc:
        raise ModelLoadError(f"{spec!r}: cannot load the tokenizer at {path}: {exc}") from exc
