"""The one fake OpenAI-compatible server of the tests: a real HTTP server on 127.0.0.1 (a free port), in a thread.

It answers what comam-bench's `openai:` backend asks: GET <base>/models, POST <base>/chat/completions and
POST <base>/completions (the likelihood protocol's prompt log-probabilities). Tests get one through the
`fake_openai` fixture (tests/conftest.py), which closes it afterwards:

    server = fake_openai()                               # answers every chat with LETTER, usage 10 + 3
    server = fake_openai(content=lambda body: "...")     # or None for `content: null`
    server.script.append((500, '{"error": "busy"}', {})) # raw replies used first, one per POST
    server.reply = (400, '{"error": "{path} {auth}"}', {})  # the same raw reply for every POST

Raw reply texts may hold {auth} and {path}: the request's Authorization header and path are put in, so a
test can check that an echoed secret is masked. Every request is recorded in `requests`.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

LETTER = "<final_answer>(a)"
MODELS = ({"id": "tiny-chat", "max_model_len": 4096},)
USAGE = {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None  # the parsed JSON of a POST

    @property
    def auth(self) -> str | None:
        return self.headers.get("Authorization")


class FakeOpenAI:
    """See the module docstring. `content` and `usage` are values or functions of the request body;
    `completion(prompt)` gives one /completions choice (without its index)."""

    def __init__(self, *, models=MODELS, content: str | None | Callable[[dict], str | None] = LETTER,
                 usage: dict | None | Callable[[dict], dict] = USAGE, completion: Callable[[str], dict] | None = None,
                 prefix: str = "/v1"):
        self.models, self.content, self.usage, self.completion, self.prefix = list(models), content, usage, completion, prefix
        self.script: list[tuple[int, str, dict]] = []
        self.reply: tuple[int, str, dict] | None = None
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.inflight = self.max_inflight = 0
        self.closed = False
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.port = self.httpd.server_port
        self.base_url = f"http://127.0.0.1:{self.port}{prefix}"

    @property
    def posts(self) -> list[dict]:
        """The JSON bodies of the POSTs, in order."""
        return [r.body for r in self.requests if r.method == "POST"]

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    def chat(self, body: dict) -> dict:
        """The chat completion for one request body. A last message "sleep S" waits S seconds first, so a
        test can finish requests out of order and see how many were in flight at once (max_inflight)."""
        last = body["messages"][-1]["content"]
        if isinstance(last, str) and last.startswith("sleep "):
            with self.lock:
                self.inflight += 1
                self.max_inflight = max(self.max_inflight, self.inflight)
            time.sleep(float(last.split()[1]))
            with self.lock:
                self.inflight -= 1
        content = self.content(body) if callable(self.content) else self.content
        out = {"id": "x", "object": "chat.completion", "model": body.get("model", self.models[0]["id"]),
               "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}]}
        usage = self.usage(body) if callable(self.usage) else self.usage
        return {**out, "usage": usage} if usage is not None else out

    def completions(self, body: dict) -> dict:
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        choices = [{"index": i, **self.completion(p)} for i, p in enumerate(prompts)]
        return {"object": "text_completion", "model": body["model"], "choices": choices}

    def answer(self, request: Request) -> tuple[int, str, dict]:
        with self.lock:
            raw = self.script.pop(0) if self.script else self.reply
        if raw is not None:
            status, text, headers = raw
            return status, text.replace("{auth}", request.auth or "").replace("{path}", request.path), headers
        route = urlsplit(request.path).path
        if route == f"{self.prefix}/chat/completions":
            return 200, json.dumps(self.chat(request.body)), {}
        if route == f"{self.prefix}/completions" and self.completion is not None:
            return 200, json.dumps(self.completions(request.body)), {}
        return 404, '{"error": "not found"}', {}

    def close(self) -> None:
        """Stops the server (a test may stop it early to see a server go away; closing twice is fine)."""
        if not self.closed:
            self.closed = True
            self.httpd.shutdown()
            self.httpd.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _handler(server: FakeOpenAI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest's output clean
            pass

        def _send(self, status: int, text: str, headers: dict) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            with server.lock:
                server.requests.append(Request("GET", self.path, dict(self.headers), None))
            if urlsplit(self.path).path == f"{server.prefix}/models":
                return self._send(200, json.dumps({"object": "list", "data": server.models}), {})
            self._send(404, '{"error": "not found"}', {})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"null")
            request = Request("POST", self.path, dict(self.headers), body)
            with server.lock:
                server.requests.append(request)
            self._send(*server.answer(request))

    return Handler
