"""Embedders by spec: the packaged all-MiniLM-L6-v2 (real model), the hashing embedder, and errors."""
from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from comam_bench.llm import ModelLoadError, ModelSpecError, embedded_embedder_dir, load_embedder  # noqa: E402
from comam_bench.llm.spec import file_sha256  # noqa: E402


@pytest.mark.slow
def test_minilm_puts_similar_sentences_closer():
    pytest.importorskip("sentence_transformers")
    emb = load_embedder("minilm")
    vectors = emb.embed(["I love drinking green tea in the morning.",
                         "Every morning I enjoy a cup of green tea.",
                         "The quarterly tax report is due on Friday."])
    assert vectors.shape == (3, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > sims[0, 2] + 0.3 and sims[0, 1] > sims[1, 2] + 0.3
    assert emb.embed([]).shape == (0, 384)
    ident = emb.identity()
    assert ident["spec"] == "minilm" and ident["model"] == embedded_embedder_dir().name and ident["dim"] == 384
    assert ident["weights_sha256"] == file_sha256(embedded_embedder_dir() / "model.safetensors")


def test_hash_embedder_by_spec():
    emb = load_embedder("hash:64")
    assert emb.spec == "hash:64" and emb.embed(["a b", "c"]).shape == (2, 64)
    assert load_embedder("hash").dim == 256


@pytest.mark.parametrize("spec, fragment", [
    ("minlm", "Did you mean 'minilm'"),
    ("hash:big", "must be an integer"),
    ("st:", "names no directory"),
    ("minilm,batchsize=3", "Did you mean 'batch_size'"),
])
def test_bad_embedder_specs_explain(spec, fragment):
    with pytest.raises(ModelSpecError, match=fragment):
        load_embedder(spec)


def test_st_directory_must_be_a_model(tmp_path):
    with pytest.raises(ModelLoadError, match="not a sentence-transformers directory"):
        load_embedder(f"st:{tmp_path}")
