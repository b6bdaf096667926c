"""Shared by the tests/test_reliability_*.py files: the CLI in a subprocess, a tiny chat server, file scans."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cli(args, tmp_path, extra_env=None, timeout=300):
    """`comam-bench ARGS` in a fresh process (offline, a private cache); returns the CompletedProcess."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "COMAM_BENCH_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]),
           "COLUMNS": "200", **(extra_env or {})}
    return subprocess.run([sys.executable, "-m", "comam_bench.cli.main", *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=timeout, cwd=REPO)


def written_text(folder: Path) -> str:
    """Every file under `folder`, read as text, with its path first (a path can leak a secret too)."""
    parts = []
    for path in sorted(Path(folder).rglob("*")):
        parts.append(str(path))
        if path.is_file():
            parts.append(path.read_text(errors="replace"))
    return "\n".join(parts)


class ChatServer:
    """Answers any GET with one model and any POST with '<final_answer>(a)', whatever the path or query."""

    def __init__(self, model="tiny-chat"):
        self.paths: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _send(self, obj):
                data = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                server.paths.append(self.path)
                self._send({"object": "list", "data": [{"id": model, "max_model_len": 4096}]})

            def do_POST(self):
                server.paths.append(self.path)
                self.rfile.read(int(self.headers["Content-Length"]))
                self._send({"id": "x", "object": "chat.completion", "model": model,
                            "choices": [{"index": 0, "message": {"role": "assistant",
                                                                 "content": "<final_answer>(a)"},
                                         "finish_reason": "stop"}],
                            "usage": {"prompt_tokens": 10, "completion_tokens": 3, "total_tokens": 13}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self.port = self.httpd.server_port

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
