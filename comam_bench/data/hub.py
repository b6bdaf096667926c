"""Where a task's files come from: a local --data-dir, the Hugging Face hub, or the synthetic cache.

Every source ends in local paths that go through the same file loader (personamem.load_files).
Offline, the hub path fails within seconds (HF_HUB_OFFLINE, or a 3-second connection probe) unless
the pinned files are already in the Hugging Face cache.
"""
from __future__ import annotations

import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

from comam_bench.data.personamem import DataError

PROBE_TIMEOUT_S = 3.0
_SIZE_TOKEN = re.compile(r"_(32k|128k|1m)\b", re.IGNORECASE)


@dataclass
class Located:
    """The local files of a task and how they were found."""

    questions: Path
    contexts: Path | None
    evidence: Path | None
    source: str  # "local" | "hf:<repo>@<revision>" | "synthetic"
    data_dir: Path
    notes: list[str] = field(default_factory=list)  # e.g. which fallback file was picked

    def info(self) -> dict[str, Any]:
        return {"source": self.source, "data_dir": str(self.data_dir), **({"notes": self.notes} if self.notes else {})}


def _files(spec: dict[str, Any]) -> dict[str, str]:
    files = spec.get("files") or {}
    if not files.get("questions"):
        raise DataError(f"task spec {spec.get('name')!r} names no questions file (files: questions: ...).")
    return files


def locate(spec: dict[str, Any], data_dir: str | Path | None = None) -> Located:
    """Find a resolved task spec's files: synthetic cache, --data-dir, or the pinned Hugging Face revision."""
    source = spec.get("source", "personamem")
    if source == "synthetic":
        return locate_synthetic(spec, data_dir)
    if source != "personamem":
        raise DataError(f"task spec {spec.get('name')!r} has unknown source {source!r} (personamem | synthetic).")
    if data_dir is not None:
        return locate_local(spec, Path(data_dir).expanduser())
    return locate_hub(spec)


# --------------------------------------------------------------------------- local directory
def _how_to(spec: dict[str, Any]) -> str:
    files = _files(spec)
    names = " and ".join(n for n in (files.get("questions"), files.get("contexts")) if n)
    hf = spec.get("hf") or {}
    where = (f" from https://huggingface.co/datasets/{hf['repo']} (revision {hf.get('revision', 'main')})"
             if hf.get("repo") else "")
    return f"Download {names}{where} into a folder and pass --data-dir DIR (data_dir=DIR in Python)."


def _pick(folder: Path, wanted: str | None, pattern: str, size: str) -> tuple[Path | None, str | None]:
    """The spec's file name, else the one file matching `pattern` that names no other size (with a note)."""
    if not wanted:
        return None, None
    if (folder / wanted).is_file():
        return folder / wanted, None
    by_lower = {p.name.lower(): p for p in folder.iterdir() if p.is_file()}
    if wanted.lower() in by_lower:  # questions_1M.csv vs questions_1m.csv
        return by_lower[wanted.lower()], None
    candidates = [p for p in sorted(folder.glob(pattern)) if p.is_file() and _names_size(p.name, size)]
    if len(candidates) == 1:
        return candidates[0], f"picked {candidates[0].name} because {wanted} is not in {folder}"
    if len(candidates) > 1:
        raise DataError(f"{folder} has no {wanted} and several candidates ({', '.join(p.name for p in candidates)}). "
                        "Point --data-dir at a folder holding one questions and one contexts file.")
    return None, None


def _names_size(file_name: str, size: str) -> bool:
    """False when a file name states a size other than the task's (questions_32k.csv for a 128k task)."""
    found = _SIZE_TOKEN.search(file_name)
    return found is None or not size or found.group(1).lower() == str(size).lower()


def locate_local(spec: dict[str, Any], folder: Path) -> Located:
    """Files in a local folder, by the spec's names, falling back to the only questions*/shared_contexts* file."""
    if not folder.is_dir():
        raise DataError(f"data directory {folder} does not exist. " + _how_to(spec))
    files, size = _files(spec), str(spec.get("size", ""))
    questions, q_note = _pick(folder, files["questions"], "questions*.csv", size)
    if questions is None:
        listing = ", ".join(sorted(p.name for p in folder.iterdir())[:12]) or "nothing"
        raise DataError(f"{folder} has no {files['questions']} (it holds: {listing}). " + _how_to(spec))
    contexts, c_note = _pick(folder, files.get("contexts"), "shared_contexts*.jsonl", size)
    evidence = folder / files["evidence"] if files.get("evidence") else None
    notes = [n for n in (q_note, c_note) if n]
    if contexts is None and files.get("contexts"):
        notes.append(f"no {files['contexts']} (nor another shared_contexts*.jsonl) in {folder}")
    return Located(questions, contexts, evidence if evidence and evidence.is_file() else None, "local", folder, notes)


# --------------------------------------------------------------------------- Hugging Face hub
def _probe(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection opens within `timeout` s; a thread bounds DNS too (socket timeouts do not)."""
    result: list[bool] = []

    def attempt() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def offline_reason(timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """Why the hub cannot be reached (HF_HUB_OFFLINE set, or the probe failed), or None when it can."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    host = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co").hostname or "huggingface.co"
    if not _probe(host, 443, timeout):
        return f"cannot reach {host}:443 within {timeout:g} s"
    return None


def _downloader() -> Callable[..., str]:
    from huggingface_hub import hf_hub_download  # lazy: only the hub path needs it

    return hf_hub_download


def locate_hub(spec: dict[str, Any], timeout: float = PROBE_TIMEOUT_S) -> Located:
    """Fetch the spec's files at its pinned revision (or use the HF cache when offline)."""
    hf, files = spec.get("hf") or {}, _files(spec)
    if not hf.get("repo") or not hf.get("revision"):
        raise DataError(f"task spec {spec.get('name')!r} names no Hugging Face repo and revision. " + _how_to(spec))
    offline = offline_reason(timeout)
    names = [n for n in (files["questions"], files.get("contexts")) if n]
    try:
        download = _downloader()
    except ImportError:
        raise DataError("huggingface_hub is not installed (pip install 'comam-bench[local]'). "
                        + _how_to(spec)) from None
    errors = []
    for repo in [hf["repo"], *(hf.get("aliases") or [])]:
        try:
            paths = [Path(download(repo, n, repo_type="dataset", revision=hf["revision"],
                                   local_files_only=offline is not None)) for n in names]
        except Exception as exc:  # the hub raises many kinds (HTTP, cache miss, auth); all end in the same advice
            errors.append(f"{repo}: {type(exc).__name__}")
            continue
        contexts = paths[1] if len(paths) > 1 else None
        return Located(paths[0], contexts, None, f"hf:{repo}@{hf['revision']}", paths[0].parent)
    why = f"offline ({offline}) and the files are not in the Hugging Face cache" if offline else "; ".join(errors)
    raise DataError(f"Cannot get task {spec.get('name')!r} from the Hugging Face hub: {why}. " + _how_to(spec))


# --------------------------------------------------------------------------- synthetic
def cache_root() -> Path:
    """$COMAM_BENCH_CACHE, else ~/.cache/comam-bench."""
    env = os.environ.get("COMAM_BENCH_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "comam-bench"


def synthetic_dir(preset: str, seed: int) -> Path:
    """Cache folder of one synthetic preset and seed, keyed by generator version so stale files are never reused."""
    from comam_bench.data.synthetic import GENERATOR_VERSION

    return cache_root() / "synthetic" / f"{preset}-s{seed}-v{GENERATOR_VERSION}"


def _generator() -> Callable[..., Any]:
    from comam_bench.data.synthetic import generate  # written by another module; imported only when needed

    return generate


def locate_synthetic(spec: dict[str, Any], data_dir: str | Path | None = None) -> Located:
    """Synthetic files in `data_dir` or the cache, generated there first when any is missing."""
    preset, seed = str(spec.get("preset", "mini")), int(spec.get("seed", 0))
    folder = Path(data_dir).expanduser() if data_dir is not None else synthetic_dir(preset, seed)
    files = _files(spec)
    wanted = [folder / n for n in files.values() if n]
    notes = []
    if not all(p.is_file() for p in wanted):
        try:
            generate = _generator()
        except ImportError as exc:
            raise DataError(f"the synthetic generator is not available ({exc}); task {spec.get('name')!r} "
                            "needs comam_bench/data/synthetic/.") from None
        folder.mkdir(parents=True, exist_ok=True)
        generate(folder, preset=preset, seed=seed)
        notes.append(f"generated preset {preset!r} seed {seed} into {folder}")
        missing = [p.name for p in wanted if not p.is_file()]
        if missing:
            raise DataError(f"the synthetic generator did not write {', '.join(missing)} into {folder}; "
                            "the task spec's file names must match the generator's.")
    evidence = folder / files["evidence"] if files.get("evidence") else None
    contexts = folder / files["contexts"] if files.get("contexts") else None
    return Located(folder / files["questions"], contexts, evidence, "synthetic", folder, notes)
