"""Embedders by name: `minilm` (the default, all-MiniLM-L6-v2 shipped as a package), `st:PATH` (any local
sentence-transformers directory), `hash:DIM` (the model-free HashEmbedder for tests).

Options use the model-spec syntax: `st:/models/bge,device=cpu,batch_size=32`. sentence-transformers is
imported only when such an embedder is built.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import Embedder
from comam_bench.llm.activity import ACTIVITY, embedding
from comam_bench.llm.spec import ModelLoadError, ModelSpecError, split_options, choice, file_sha256, take_options
from comam_bench.registry import Registry

# name -> "module:factory(target, options, spec)"; "default" is the harness's default embedder.
EMBEDDERS: dict[str, str] = {
    "minilm": "comam_bench.llm.embedders:minilm_from_spec",
    "default": "comam_bench.llm.embedders:minilm_from_spec",
    "st": "comam_bench.llm.embedders:st_from_spec",
    "hash": "comam_bench.llm.embedders:hash_from_spec",
}
EMBEDDER_REGISTRY = Registry("embedder", EMBEDDERS, error=ModelSpecError)
ST_OPTIONS = {"device": choice("auto", "cpu", "cuda"), "batch_size": int}
ST_DEFAULTS = {"device": "cpu", "batch_size": 64}


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local directory; rows come back L2-normalised (float32)."""

    def __init__(self, path: str | Path, *, device: str = "cpu", batch_size: int = 64, spec: str = "") -> None:
        self.path = Path(path).expanduser()
        self.spec = spec or f"st:{self.path}"
        self.batch_size = batch_size
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            raise ModelLoadError(f"{self.spec!r}: {self.path} is not a sentence-transformers directory "
                                 "(no modules.json or config.json)")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise ModelLoadError(f"{self.spec!r} needs sentence-transformers: "
                                 "`pip install comam-bench[local]`") from None
        device = None if device == "auto" else device
        if device in (None, "cpu"):
            from comam_bench.llm.threads import configure_threads

            configure_threads()  # the embedder shares torch's threads with the LLM (threads.py)
        try:
            self.model = SentenceTransformer(str(self.path), device=device)
        except Exception as exc:
            raise ModelLoadError(f"{self.spec!r}: sentence-transformers could not load {self.path}: {exc}") from exc
        # sentence-transformers 6 renamed the method; keep both spellings working.
        dim_of = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(dim_of())

    def embed(self, texts: Sequence[str]):
        """An [n, dim] float32 array of unit rows (zero texts give a [0, dim] array)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with ACTIVITY.call(embedding(len(texts))):
            vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    def identity(self) -> dict[str, Any]:
        """Spec, model directory name, dimension and the sha256 of its weights file."""
        out: dict[str, Any] = {"spec": self.spec, "backend": "sentence-transformers", "model": self.path.name,
                               "dim": self.dim}
        for name in ("model.safetensors", "pytorch_model.bin"):
            if (self.path / name).is_file():
                out["weights_sha256"] = file_sha256(self.path / name)
                break
        return out


def parse_embedder_spec(spec: str) -> tuple[str, str, dict[str, str]]:
    """(kind, target, options) of an embedder spec, checked without loading anything; ModelSpecError if bad.

    kind is "minilm" (also for `default`), "st" or "hash"; for hash the target is the dimension.
    """
    from comam_bench.llm.spec import ModelSpec

    text = spec.strip()
    head = text.split(",", 1)[0]
    name, _, rest = head.partition(":")
    name = name.strip().lower()
    EMBEDDER_REGISTRY.target(name, "Known: minilm (default), st:PATH, hash:DIM.", import_paths=False)
    target, options = split_options(rest + text[len(head):], spec)
    kind = "minilm" if name == "default" else name
    if kind == "hash":
        if options:
            raise ModelSpecError(f"embedder {spec!r}: hash takes no options, only a dimension (hash:256)")
        if target and not (target.isdigit() and int(target) > 0):
            raise ModelSpecError(f"embedder spec {spec!r}: the hash dimension must be an integer above 0 (hash:256)")
        return kind, target or "256", {}
    if kind == "st" and not target:
        raise ModelSpecError(f"embedder spec {spec!r} names no directory: write st:/path/to/model")
    take_options(ModelSpec("st", target, options), ST_OPTIONS, ST_DEFAULTS)
    return kind, target, options


def load_embedder(spec: str) -> Embedder:
    """Build the embedder a spec names: `minilm` | `default`, `st:PATH[,device=..,batch_size=..]`, `hash[:DIM]`."""
    kind, target, options = parse_embedder_spec(spec)
    return EMBEDDER_REGISTRY.load(kind, import_paths=False)(target, options, spec)


def minilm_from_spec(target: str, options: dict[str, str], spec: str) -> Embedder:
    """The embedded all-MiniLM-L6-v2."""
    from comam_bench.llm.defaults import embedded_embedder_dir

    return _st(str(embedded_embedder_dir()), options, spec)


def st_from_spec(target: str, options: dict[str, str], spec: str) -> Embedder:
    """Any local sentence-transformers directory."""
    return _st(target, options, spec)


def hash_from_spec(target: str, options: dict[str, str], spec: str) -> Embedder:
    """The model-free HashEmbedder (tests): `hash:DIM`."""
    from comam_bench.llm.hashing import HashEmbedder

    return HashEmbedder(int(target))


def _st(path: str, options: dict[str, str], spec: str) -> Embedder:
    from comam_bench.llm.spec import ModelSpec

    opts = take_options(ModelSpec("st", path, options), ST_OPTIONS, ST_DEFAULTS)
    return SentenceTransformerEmbedder(path, spec=spec.strip(), **opts)
