"""One model-spec syntax for `--model`, a lazy backend registry, and `load_llm`.

A spec is `BACKEND:TARGET[,key=value...]`, e.g. `hf:/models/qwen,dtype=bfloat16`,
`openai:Qwen2.5-3B,base_url=http://gpu1:8000/v1`, `scripted:constant=<final_answer>(a)`, or an alias
(`smollm2`, `default`) that may carry options too (`smollm2,window=2048`). A part with `=` and an
identifier key is an option; the first part without one is the target. Values cannot contain commas.

Backends are named by "module:factory" strings (as lm-eval names "hf" -> "lm_eval.models.huggingface:HFLM")
so parsing a spec or listing backends imports no torch, transformers, vllm or httpx.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from comam_bench.api import LLM
from comam_bench.args import coerce
from comam_bench.errors import BackendError, ModelLoadError, ModelSpecError  # noqa: F401  (re-exported)
from comam_bench.registry import Registry, did_you_mean, suggest

BACKEND_GROUP = "comam_bench.llm_backends"  # entry-point group for third-party backends

# backend name -> "module:factory"; a factory is a class with `from_spec(ModelSpec)` or a callable(ModelSpec).
BACKENDS: dict[str, str] = {
    "hf": "comam_bench.llm.hf:TransformersLLM",
    "openai": "comam_bench.llm.http:OpenAICompatLLM",
    "vllm": "comam_bench.llm.vllm_backend:VLLMLLM",
    "scripted": "comam_bench.llm.spec:scripted_from_spec",
}

ALIASES = ("smollm2", "default")  # both resolve to the embedded SmolLM2-135M-Instruct GGUF

# Options that change how a backend reaches its model, never what it answers: recorded with the run, but left
# out of the spec hash, so `--resume` after raising timeout= (what a timeout error advises) is the same run.
TRANSPORT_OPTIONS: dict[str, tuple[str, ...]] = {
    "openai": ("timeout", "retries", "concurrency", "backoff", "key_env"),
}

_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
_SECRET_KEYS = {"api_key", "key", "token", "password", "secret"}


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec: which backend, what it loads, and its options (values still strings)."""

    backend: str
    target: str
    options: dict[str, str] = field(default_factory=dict)
    alias: str | None = None  # the alias it came from, if any

    def __str__(self) -> str:
        parts = [f"{self.backend}:{self.target}"] + [f"{k}={v}" for k, v in self.options.items()]
        return ",".join(parts)


LLM_BACKENDS = Registry("model backend", BACKENDS, BACKEND_GROUP, ModelSpecError)


def backend_names() -> list[str]:
    """Built-in backends plus those registered through the entry-point group."""
    return LLM_BACKENDS.names()


def _suggestions(name: str) -> str:
    return suggest(name, backend_names() + list(ALIASES),
                   f"Backends: {', '.join(b + ':' for b in backend_names())}; aliases: {', '.join(ALIASES)}.")


def split_options(rest: str, spec: str) -> tuple[str, dict[str, str]]:
    """Split `TARGET,k=v,...` into the target and the options (in order)."""
    target: str | None = None
    options: dict[str, str] = {}
    for part in rest.split(",") if rest else []:
        key, eq, value = part.partition("=")
        if eq and _KEY.match(key.strip()):
            key = key.strip()
            if key in _SECRET_KEYS:
                # Never echo the value: a key typed into a spec would otherwise land in logs.
                raise ModelSpecError(f"model spec option {key!r} is not accepted: secrets never go in a spec. "
                                     "Put the key in an environment variable and name it with key_env=VAR.")
            if key in options:
                raise ModelSpecError(f"model spec {spec!r} sets option {key!r} twice")
            options[key] = value.strip()
        elif target is None and not options:
            target = part.strip()
        else:
            raise ModelSpecError(f"model spec {spec!r}: {part!r} is neither the target nor a key=value option "
                                 "(the target comes first; values cannot contain commas)")
    return target or "", options


def parse_model_spec(spec: str) -> ModelSpec:
    """Parse `BACKEND:TARGET[,key=value...]` or an alias; a bare existing path or `.gguf` means `hf:`."""
    text = spec.strip()
    if not text:
        raise ModelSpecError("empty model spec. Use e.g. 'smollm2', 'hf:/path/to/model' or 'openai:NAME,base_url=...'.")
    head = text.split(",", 1)[0]
    if head in ALIASES:
        _, options = split_options(text[len(head):].lstrip(","), spec)
        return ModelSpec("hf", "", options, alias=head)
    backend, colon, rest = text.partition(":")
    if not colon or "/" in backend or "," in backend:
        if Path(head).exists() or head.endswith(".gguf"):
            backend, rest = "hf", text
        else:
            raise ModelSpecError(f"model spec {spec!r} has no backend: write BACKEND:TARGET (a hub id or a path "
                                 f"as hf:{head})." + _suggestions(head))
    backend = backend.strip().lower()
    if backend not in backend_names():
        raise ModelSpecError(f"unknown model backend {backend!r} in {spec!r}." + _suggestions(backend))
    target, options = split_options(rest, spec)
    return ModelSpec(backend, target, options)


def split_transport(spec: str) -> tuple[str, dict[str, str]]:
    """(the spec without its transport options, those options): the first part is what the spec hash covers.
    A spec that does not parse is returned whole (it fails later, with its own message)."""
    try:
        ms = parse_model_spec(spec)
    except ModelSpecError:
        return spec, {}
    names = TRANSPORT_OPTIONS.get(ms.backend, ())
    transport = {k: v for k, v in ms.options.items() if k in names}
    if not transport:
        return spec, {}
    head = spec.strip().split(",", 1)[0]
    kept = [f"{k}={v}" for k, v in ms.options.items() if k not in names]
    return ",".join([head, *kept]), transport


def take_options(ms: ModelSpec, schema: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Convert a spec's options to the types of `schema` (name -> type) with the typed argument builder,
    fill `defaults`; unknown names get suggestions."""
    out = dict(defaults)
    for key, raw in ms.options.items():
        if key not in schema:
            raise ModelSpecError(f"backend {ms.backend!r} has no option {key!r}.{did_you_mean(key, schema, 2)} "
                                 f"Options: {', '.join(sorted(schema))}.")
        out[key] = coerce(schema[key], raw, f"option {key}={raw!r} of backend {ms.backend!r}", ModelSpecError)
    return out


def choice(*allowed: str) -> Any:
    """The type of an option that takes one of `allowed` (for take_options)."""
    return Literal[allowed]


def resolve_alias(ms: ModelSpec) -> ModelSpec:
    """An alias becomes the hf spec of the embedded GGUF, keeping the alias's options."""
    if ms.alias is None:
        return ms
    from comam_bench.llm.defaults import embedded_model_file

    return ModelSpec("hf", str(embedded_model_file()), dict(ms.options), alias=ms.alias)


def load_llm(spec: str) -> LLM:
    """Build the LLM a spec names; `llm.spec` is set to the spec as written."""
    ms = resolve_alias(parse_model_spec(spec))
    factory = LLM_BACKENDS.load(ms.backend, import_paths=False)
    llm = factory.from_spec(ms) if hasattr(factory, "from_spec") else factory(ms)
    llm.spec = spec.strip()
    return llm


def scripted_from_spec(ms: ModelSpec) -> LLM:
    """`scripted:constant=TEXT[,window=N]`: the ScriptedLLM test double answering TEXT to every chat."""
    from comam_bench.llm.scripted import ScriptedLLM

    opts = take_options(ms, {"constant": str, "window": int}, {"constant": "<final_answer>(a)", "window": 4096})
    text = opts["constant"] if not ms.target else ms.target
    return ScriptedLLM(text, context_window=opts["window"], spec=str(ms))


# --------------------------------------------------------------------------- identity helpers
_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file, computed once per (path, size, mtime) in this process."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with open(p, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]
