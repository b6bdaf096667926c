"""Throughput of `--parallel N` and `--ray` against a latency-bound OpenAI-compatible server.

    .venv/bin/python benchmarks/parallel_contexts.py                 # writes results/benchmarks/parallel_contexts.json
    .venv/bin/python benchmarks/parallel_contexts.py --latency 0.03 --cap 8 --seeds 4 --ns 1,2,4,8,16 --no-ray

The server (127.0.0.1 only, in this process) answers every chat completion after a fixed latency and serves
at most `--cap` requests at once (the rest wait), like a GPU server with a fixed batch. Replies are scripted
from the prompt (MemoryOS's summary JSON, continuity, profile, knowledge and answer steps), so every step
parses and MemoryOS makes all its calls. The task is synthetic-32k over `--seeds` seeds combined into one
folder (4 contexts per seed; the presets themselves are unchanged). Each N runs the whole task; throughput is
questions per second of `Run.execute()`, compared with the sequential run (N = 1 in this process), with the
ideal min(N, cap) x and with the server's own bound (see sweep()). Every run must give the same samples as the
sequential one (checked). Ray: a private local cluster of 2 CPUs, 2 workers (1 CPU each),
each running N / 2 contexts at once (N = 1: one worker); its wall time includes starting the workers.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THEME = json.dumps([{"theme": "hobbies", "keywords": ["hobby", "weekend"], "content": "the user's hobbies"}])
KNOWLEDGE = "USER FACTS:\n- likes tennis\nASSISTANT KNOWLEDGE:\n- suggested a racket"


def reply(chat: list[dict]) -> str:
    """The scripted-style answer to one MemoryOS step (the rules of tests/systems/test_memoryos.py's responder)."""
    body = chat[-1]["content"]
    if "Answer with a JSON list only" in body:
        return THEME
    if body.endswith("Answer true or false:"):
        return "true"
    if "Write the updated overview" in body:
        return "thread about hobbies"
    if body.endswith("Updated profile:"):
        return "PROFILE: likes tennis"
    if "USER FACTS:" in body:
        return KNOWLEDGE
    return f"<final_answer>({'abcd'[len(body) % 4]})"


class LatencyServer:
    """An OpenAI-compatible chat server with a fixed latency per request and at most `cap` served at once."""

    def __init__(self, latency: float, cap: int) -> None:
        self.latency, self.cap = latency, cap
        self.slots = threading.BoundedSemaphore(cap)
        self.lock = threading.Lock()
        self.requests = self.in_flight = self.most_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers
            disable_nagle_algorithm = True  # else headers and body in two writes wait on delayed ACKs (~40 ms)

            def log_message(self, *args):
                pass

            def _send(self, obj: dict) -> None:
                data = json.dumps(obj).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._send({"data": [{"id": "bench", "max_model_len": 32768}]})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.slots:
                    with server.lock:
                        server.requests += 1
                        server.in_flight += 1
                        server.most_in_flight = max(server.most_in_flight, server.in_flight)
                    time.sleep(server.latency)
                    with server.lock:
                        server.in_flight -= 1
                text = reply(body["messages"])
                self._send({"choices": [{"message": {"role": "assistant", "content": text}}],
                            "usage": {"prompt_tokens": sum(len(m["content"]) // 4 for m in body["messages"]),
                                      "completion_tokens": len(text) // 4}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def take_stats(self) -> dict:
        with self.lock:
            out = {"requests": self.requests, "most_in_flight": self.most_in_flight}
            self.requests = self.most_in_flight = 0
        return out

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def combined_data(folder: Path, seeds: int) -> Path:
    """synthetic-32k of seeds 0..seeds-1 in one folder (ids are unique across seeds)."""
    from comam_bench.data.synthetic import generate

    out = folder / "combined"
    out.mkdir(parents=True)
    rows, header = [], None
    with open(out / "shared_contexts_32k.jsonl", "w") as contexts, open(out / "evidence_32k.jsonl", "w") as evidence:
        for seed in range(seeds):
            files = generate(folder / f"s{seed}", preset="32k", seed=seed)
            with open(files["questions"], newline="") as fh:
                reader = csv.reader(fh)
                header = next(reader)
                rows += list(reader)
            contexts.write(Path(files["contexts"]).read_text())
            evidence.write(Path(files["evidence"]).read_text())
    with open(out / "questions_32k.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return out


def one_run(data: Path, results: Path, port: int, run_id: str, **execution) -> tuple[float, dict, list]:
    from comam_bench.runner import Run, RunConfig

    cfg = RunConfig(task="synthetic-32k", data_dir=str(data), system="memoryos", embedder="hash:64",
                    model=f"openai:bench,base_url=http://127.0.0.1:{port}/v1,concurrency=64",
                    results_dir=results, run_id=run_id, **execution)
    start = time.perf_counter()
    record = Run(cfg).execute()
    wall = time.perf_counter() - start
    lines = (results / "runs" / run_id / "samples.jsonl").read_text().splitlines()
    answers = sorted((s["question_id"], s["raw_output"]) for s in map(json.loads, lines))
    return wall, record, answers


def sweep(name: str, ns: list[int], cap: int, server: LatencyServer, data: Path, results: Path, layout,
          base: dict | None = None) -> list[dict]:
    """One full run per N. Speed-ups are against `base` (the sequential run; by default this sweep's N = 1).

    Two ceilings: the issue's ideal min(N, cap) x, and the server's: a context of MemoryOS already sends
    some calls as concurrent batches, so the N = 1 run keeps more than one request in flight on average and
    no N can beat requests x latency / cap seconds; that bound is min(N, sequential wall x cap / (requests x
    latency)) x."""
    rows = []
    for n in ns:
        wall, record, answers = one_run(data, results, server.port, f"{name}-n{n}", **layout(n))
        stats = server.take_stats()
        qps = record["scores"]["n"] / wall
        if base is None:
            base = {"qps": qps, "wall": wall, "answers": answers, "busy": stats["requests"] * server.latency}
        speedup = qps / base["qps"]
        bound = min(n, base["wall"] * cap / base["busy"])
        rows.append({"mode": name, "n": n, "execution": record["execution"], "questions": record["scores"]["n"],
                     "wall_seconds": round(wall, 2), "questions_per_second": round(qps, 3),
                     "speedup": round(speedup, 2), "ideal_speedup": min(n, cap),
                     "fraction_of_ideal": round(speedup / min(n, cap), 3),
                     "server_bound_speedup": round(bound, 2), "fraction_of_server_bound": round(speedup / bound, 3),
                     # Ray: the same, leaving out the workers' start (imports, model load) that a long run amortises
                     "speedup_after_worker_start": round(
                         base["wall"] / (wall - record["execution"].get("worker_start_seconds", 0.0)), 2),
                     "same_samples_as_sequential": answers == base["answers"], "server": stats})
        print(json.dumps(rows[-1]), flush=True)
    return rows, base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per request")
    parser.add_argument("--cap", type=int, default=8, help="requests the server serves at once")
    parser.add_argument("--seeds", type=int, default=4, help="synthetic-32k seeds combined (4 contexts each)")
    parser.add_argument("--ns", default="1,2,4,8,16")
    parser.add_argument("--no-ray", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "results" / "benchmarks" / "parallel_contexts.json"))
    args = parser.parse_args()
    ns = [int(x) for x in args.ns.split(",")]
    server = LatencyServer(args.latency, args.cap)
    out: dict = {"latency_seconds": args.latency, "server_cap": args.cap, "task": "synthetic-32k",
                 "seeds": args.seeds, "system": "memoryos", "embedder": "hash:64", "cpus": os.cpu_count(),
                 "load_average_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        data = combined_data(Path(tmp), args.seeds)
        out["rows"], base = sweep("threads", ns, args.cap, server, data, Path(tmp) / "results",
                                  lambda n: {"parallel": n})
        if not args.no_ray:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            try:
                layout = lambda n: {"ray": "auto", "ray_workers": min(2, n), "parallel": max(1, n // 2)}  # noqa: E731
                out["rows"] += sweep("ray", ns, args.cap, server, data, Path(tmp) / "results", layout, base)[0]
            finally:
                ray.shutdown()
    server.close()
    out["load_average_end"] = os.getloadavg()[0]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
