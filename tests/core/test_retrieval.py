"""Shared retrieval utilities against hand-worked values: RRF, top-k, BM25, dense scores, packing."""
import math
import random

import numpy as np
import pytest

from comam_bench.budget import Packer, head_within, pack, split_long, tail_within
from comam_bench.llm.hashing import HashEmbedder
from helpers_systems import CountingEmbedder
from comam_bench.retrieval import BM25Index, EmbeddingCache, bm25_scores, dense_scores, rrf, top_k


def words(text):
    """ScriptedLLM's token count: whitespace-separated words."""
    return len(text.split())


# --------------------------------------------------------------------------- ranking
def test_rrf_hand_worked():
    # k=60. A = [0, 1, 2], B = [2, 0, 3]:
    # 0: 1/61 + 1/62 = .032520   2: 1/63 + 1/61 = .032266   1: 1/62 = .016129   3: 1/63 = .015873
    assert rrf([[0, 1, 2], [2, 0, 3]], k=60) == [0, 2, 1, 3]


def test_rrf_small_k_changes_the_winner():
    # k=0: A = [5, 7, 9], B = [9, 7], C = [9]:
    # 9: 1/3 + 1 + 1 = 2.333   5: 1   7: 1/2 + 1/2 = 1   -> 5 and 7 tie at 1.0; lower item id first
    assert rrf([[5, 7, 9], [9, 7], [9]], k=0) == [9, 5, 7]


def test_rrf_tie_goes_to_lower_id_and_empty():
    assert rrf([[1, 0], [0, 1]]) == [0, 1]
    assert rrf([]) == []
    assert rrf([[], [3]]) == [3]


def test_top_k_orders_and_breaks_ties_by_index():
    scores = [0.1, 0.5, 0.5, -1.0, 0.9]
    assert top_k(scores, 3) == [4, 1, 2]
    assert top_k(scores) == [4, 1, 2, 0, 3]
    assert top_k(scores, 10) == [4, 1, 2, 0, 3]
    assert top_k(scores, 0) == []
    assert top_k([], 3) == []


def test_dense_top_k_with_hash_embedder():
    docs = ["I went hiking in the mountains", "I bake sourdough bread every weekend", "jazz piano concerts downtown"]
    emb = HashEmbedder()
    matrix = emb.embed(docs)
    scores = dense_scores(emb.embed(["any tips for my sourdough bread?"])[0], matrix)
    assert scores.shape == (3,)
    assert top_k(scores, 1) == [1]
    assert scores[1] == pytest.approx(float(matrix[1] @ emb.embed(["any tips for my sourdough bread?"])[0]))
    assert dense_scores(np.ones(4), np.zeros((0, 4))).shape == (0,)


# --------------------------------------------------------------------------- BM25
def test_bm25_hand_worked_scores():
    # After stopwords ("the", "on", "and", "a") every doc has 3 tokens, so length normalisation cancels:
    # doc0 cat sat mat / doc1 dogs chase cats / doc2 cat cat cat; "cat" has df=2 of N=3 (no stemming: cats != cat)
    # lucene idf = ln(1 + (3 - 2 + .5)/(2 + .5)) = ln 1.6; score = idf * tf/(tf + k1), k1=1.5
    # (bm25s's "lucene" variant drops the constant factor k1+1 of the textbook formula)
    docs = ["the cat sat on the mat", "dogs chase cats", "a cat and a cat and a cat"]
    s = bm25_scores("cat", docs)
    idf = math.log(1.6)
    assert s[0] == pytest.approx(idf * 1 / 2.5, rel=1e-4)  # .188001
    assert s[1] == 0.0
    assert s[2] == pytest.approx(idf * 3 / 4.5, rel=1e-4)  # .313336
    assert top_k(s) == [2, 0, 1]


def test_bm25_no_match_no_docs_empty_docs():
    assert list(bm25_scores("zebra", ["cat", "dog"])) == [0.0, 0.0]
    assert list(bm25_scores("cat", [])) == []
    assert list(bm25_scores("cat", ["", "!!"])) == [0.0, 0.0]
    assert list(bm25_scores("", ["cat sat"])) == [0.0]


def test_bm25_index_rebuilds_lazily_and_matches_one_shot():
    index = BM25Index()
    index.add("the cat sat")
    index.add("dogs bark")
    first = index.scores("dogs")
    assert index.builds == 1
    index.scores("cat")
    index.set(0, "the cat sat")  # unchanged text: no rebuild
    index.scores("cat")
    assert index.builds == 1
    index.set(1, "dogs bark at the cat")
    index.set(2, "a dog")  # append through set
    grown = index.scores("cat dog")
    assert index.builds == 2
    np.testing.assert_allclose(grown, bm25_scores("cat dog", ["the cat sat", "dogs bark at the cat", "a dog"]))
    assert first[1] > 0 and first[0] == 0


# --------------------------------------------------------------------------- embeddings
def test_embedding_cache_embeds_each_text_once_in_one_batch():
    emb = CountingEmbedder()
    cache = EmbeddingCache(lambda: emb)
    a = cache.vectors(["x y", "z", "x y"])
    assert emb.texts == ["x y", "z"]
    b = cache.vectors(["z", "new"])
    assert emb.texts == ["x y", "z", "new"]
    np.testing.assert_array_equal(a[1], b[0])
    assert cache.vectors([]).shape == (0, 0)


def test_embedding_cache_is_lazy():
    def explode():
        raise AssertionError("embedder built")

    cache = EmbeddingCache(explode)
    assert cache.vectors([]).shape == (0, 0)


# --------------------------------------------------------------------------- packing
def test_head_and_tail_within():
    text = "one two three four five"
    assert head_within(text, 2, words) == "one two"
    assert tail_within(text, 2, words) == "four five"
    assert head_within(text, 0, words) == ""
    assert tail_within(text, 99, words) == text


def test_split_long_pieces_fit_and_rejoin():
    text = " ".join(f"w{i}" for i in range(23))
    pieces = split_long(text, 5, words)
    assert [words(p) for p in pieces] == [5, 5, 5, 5, 3]
    assert " ".join(pieces) == text


def test_pack_hand_worked():
    # costs (words + 1): 3, 3, 5, 2 with limit 6 -> [a b][c d] | [e f g h] | [i]
    chunks = pack(["a b", "c d", "e f g h", "i"], 6, words)
    assert chunks == ["a b\nc d", "e f g h", "i"]


def test_pack_splits_a_long_text_and_respects_limit():
    long = " ".join(f"x{i}" for i in range(12))  # 13 > limit 6: pieces of 5 words
    chunks = pack(["a", long, "b"], 6, words)
    assert chunks == ["a", "x0 x1 x2 x3 x4", "x5 x6 x7 x8 x9", "x10 x11\nb"]
    assert all(sum(words(line) + 1 for line in c.split("\n")) <= 6 for c in chunks)


def test_packer_incremental_equals_one_shot():
    rng = random.Random(0)
    texts = [" ".join("w" for _ in range(rng.randint(1, 15))) for _ in range(60)]
    packer = Packer(10, words)
    chunks: list[list[str]] = []
    for t in texts:
        for i, piece, _ in packer.add(t):
            if i == len(chunks):
                chunks.append([])
            chunks[i].append(piece)
    assert ["\n".join(c) for c in chunks] == pack(texts, 10, words)
    assert max(packer.sizes) <= 10
    with pytest.raises(ValueError):
        Packer(1, words)
