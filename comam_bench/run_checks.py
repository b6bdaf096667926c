"""Checks of a run's options before anything loads (data, models) or any run directory is created.

Each message names the option, what was given and what is accepted, so the user fixes the command rather
than the data.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from comam_bench.errors import ComamBenchError

# A run id names one folder under DIR/runs: one path component of a portable character set, so it can never
# climb out of runs/ (`..`, `/abs`), land in runs/ itself (`.`) or exceed a file system's name limit.
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
RUN_ID_MAX = 200


class OptionError(ComamBenchError, ValueError):
    """A run option with a value it cannot take."""


def check_run_options(cfg: Any, model_given: bool = False) -> None:
    """Raise OptionError / ModelSpecError for the first bad option of a RunConfig.

    `model_given`: the caller hands over a loaded model, so cfg.model is only its name in the spec.
    """
    if cfg.limit is not None and (isinstance(cfg.limit, bool) or cfg.limit < 1):
        raise OptionError(f"--limit {cfg.limit}: the number of questions must be at least 1 "
                          "(leave --limit out to run every question).")
    per_context = getattr(cfg, "limit_per_context", None)
    if per_context is not None and (isinstance(per_context, bool) or per_context < 1):
        raise OptionError(f"--limit-per-context {per_context}: the number of questions per context must be at "
                          "least 1 (leave it out to run every question of each context).")
    if cfg.batch_size < 1:
        raise OptionError(f"--batch-size {cfg.batch_size}: must be at least 1 (questions per system call; default 4).")
    if cfg.seed < 0:
        raise OptionError(f"--seed {cfg.seed}: must be 0 or more.")
    timeout = getattr(cfg, "timeout_per_question", None)
    if timeout is not None and (isinstance(timeout, bool) or not timeout > 0):
        raise OptionError(f"--timeout-per-question {timeout}: give the seconds an answer may take per question, "
                          "more than 0 (leave it out for no bound).")
    if cfg.resume and cfg.overwrite:
        raise OptionError("--resume and --overwrite contradict each other: --resume continues a run, "
                          "--overwrite discards it. Pass one.")
    if cfg.run_id is not None:
        check_run_id(cfg.run_id)
    check_embedder(cfg.embedder)
    if cfg.model is not None and not model_given:
        check_model(cfg.model)


def check_run_id(run_id: str) -> None:
    """A run id is one folder name: letters, digits, '.', '_' and '-', starting with a letter or digit,
    at most RUN_ID_MAX characters."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or len(run_id) > RUN_ID_MAX:
        shown = run_id if len(str(run_id)) <= 60 else f"{str(run_id)[:60]}... ({len(run_id)} characters)"
        raise OptionError(f"--run-id {shown!r}: a run id names one folder under DIR/runs, so it must start with a "
                          f"letter or digit and hold only letters, digits, '.', '_' and '-' (no '/', no spaces), "
                          f"at most {RUN_ID_MAX} characters. For example --run-id rag-top5-try2.")


def check_embedder(spec: str) -> None:
    """A parseable embedder spec whose local directory (st:DIR) exists."""
    from comam_bench.llm.embedders import parse_embedder_spec
    from comam_bench.llm.spec import ModelSpecError

    kind, target, _ = parse_embedder_spec(spec)
    if kind == "st" and not Path(target).expanduser().is_dir():
        raise ModelSpecError(f"--embedder {spec!r}: {target} is not a directory. Accepted: minilm (default), "
                             "st:DIR (a local sentence-transformers folder), hash:DIM.")


def check_model(spec: str) -> None:
    """A parseable model spec; a local path it names (hf:/..., vllm:/...) must exist."""
    from comam_bench.llm.spec import ModelSpecError, parse_model_spec

    ms = parse_model_spec(spec)
    if ms.backend in ("hf", "vllm") and ms.target and _looks_local(ms.target):
        if not Path(ms.target).expanduser().exists():
            raise ModelSpecError(f"--model {spec!r}: {ms.target} does not exist. Give a local model folder or "
                                 ".gguf file, a hub id (hf:org/name), or one of: smollm2 | hf:DIR_OR_GGUF | "
                                 "openai:NAME,base_url=URL | vllm:PATH.")


def _looks_local(target: str) -> bool:
    return target.startswith(("/", "./", "../", "~")) or target.endswith(".gguf")


def model_label(spec: str) -> str:
    """A short name for a model spec in run ids: the model a server serves, a folder's or file's name, an alias."""
    from comam_bench.llm.spec import ModelSpecError, parse_model_spec
    from comam_bench.redact import redact

    try:
        ms = parse_model_spec(spec)
    except ModelSpecError:
        return redact(spec).rstrip("/").split("/")[-1]
    if ms.alias:
        return ms.alias
    name = ms.target.rstrip("/").split("/")[-1] or ms.backend
    return name[:-5] if name.endswith(".gguf") else name


def spec_differences(old: dict | None, new: dict) -> str:
    """Which parts of two specs differ, in words (dotted keys, two levels deep), for a refused resume."""
    if old is None:
        return "its spec.json cannot be read"
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            keys += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            keys.append(key)
    text = "differs in " + ", ".join(keys)
    code = (new.get("system") or {}).get("code") or {}
    if "system.code" in keys:
        text += f"; the code of {code.get('module', 'the system')} changed since the run started"
    return text
