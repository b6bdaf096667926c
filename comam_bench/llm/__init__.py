"""LLM backends and embedders, named by spec strings (`smollm2`, `hf:DIR`, `openai:NAME,base_url=...`,
`vllm:DIR`, `scripted:constant=...`; embedders `minilm`, `st:DIR`, `hash:DIM`).

Importing this package stays light: every name below lives in a module that imports no torch,
transformers, vllm or httpx at top level; backends import those when a model is built.
"""
from __future__ import annotations

from comam_bench.llm.defaults import DEFAULT_EMBEDDER, DEFAULT_MODEL, embedded_embedder_dir, embedded_model_file
from comam_bench.llm.embedders import load_embedder
from comam_bench.llm.spec import (
    BackendError,
    ModelLoadError,
    ModelSpec,
    ModelSpecError,
    backend_names,
    load_llm,
    parse_model_spec,
)

__all__ = [
    "DEFAULT_EMBEDDER",
    "DEFAULT_MODEL",
    "BackendError",
    "ModelLoadError",
    "ModelSpec",
    "ModelSpecError",
    "backend_names",
    "embedded_embedder_dir",
    "embedded_model_file",
    "load_embedder",
    "load_llm",
    "parse_model_spec",
]
