"""LoCoMo's answer scores (comam_bench.protocols.locomo_f1): a table of cases worked out by hand from the
official rules (task_eval/evaluation.py), per category. The texts are invented here, not LoCoMo's."""
from __future__ import annotations

import math

import pytest

from comam_bench.protocols.locomo_f1 import bleu1, category_f1, normalise, token_f1

# (category, prediction, gold, F1 worked by hand, why)
CASES = [
    # categories 2 and 4: plain token F1 after normalisation and Porter stemming
    (4, "The cat", "cat", 1.0, "articles dropped"),
    (4, "She went hiking and swimming", "hiking", 0.4, "P 1/4 (she went hike swim), R 1: 2*.25/1.25"),
    (4, "painted sunsets", "painting sunset", 1.0, "stems paint, sunset on both sides"),
    (4, "U.S.A.", "USA", 1.0, "punctuation dropped"),
    (4, "3 times", 3, 2 / 3, "a number as gold: P 1/2, R 1"),
    (4, "", "Paris", 0.0, "empty prediction"),
    (4, "pottery and painting", "painting, pottery", 1.0, "no comma split outside category 1"),
    (2, "7 May, 2023", "7 May 2023", 1.0, "commas dropped"),
    (2, "May 2023", "7 May 2023", 0.8, "P 1, R 2/3: 2*(2/3)/(5/3)"),
    # category 1: split both on commas, mean over gold parts of the best predicted part
    (1, "hiking, painting", "painting, hiking", 1.0, "order does not matter"),
    (1, "hiking", "hiking, painting", 0.5, "one of two gold parts found"),
    (1, "pottery and painting", "painting, pottery", 2 / 3, "one predicted part [potteri, paint] vs each gold part: 2/3"),
    (1, "", "hiking, painting", 0.0, "empty prediction"),
    # category 3: the gold is cut at its first ';'
    (3, "likely yes", "Likely yes; she enjoys the outdoors", 1.0, "only 'likely yes' is scored"),
    (3, "maybe", "Psychology; maybe", 0.0, "what follows ';' never counts"),
    # category 5: 1 when the prediction says one of the two phrases (any case), else 0; gold unused
    (5, "Not mentioned in the conversation", "a green bike", 1.0, "the accepted phrase"),
    (5, "There is no information available about that.", "a green bike", 1.0, "the other phrase, inside a sentence"),
    (5, "NOT MENTIONED", "a green bike", 1.0, "case-insensitive"),
    (5, "It was never mentioned", "a green bike", 0.0, "'never mentioned' is not 'not mentioned'"),
    (5, "a green bike", "a green bike", 0.0, "the adversarial answer scores nothing"),
    (5, "", "a green bike", 0.0, "empty prediction"),
]


@pytest.mark.parametrize("category, prediction, gold, expected, why", CASES, ids=[c[4] for c in CASES])
def test_hand_worked_cases(category, prediction, gold, expected, why):
    assert category_f1(prediction, gold, category) == pytest.approx(expected, abs=1e-9), why


@pytest.mark.parametrize("text, expected", [
    ("The Cat, and the Hat!", "cat hat"),
    ("and/or", "andor"),  # punctuation goes before the words a/an/the/and, as in the official order
    ("  Theater   an  apple ", "theater apple"),
    (7, "7"),
])
def test_normalise(text, expected):
    assert normalise(text) == expected


@pytest.mark.parametrize("prediction, gold, expected", [
    ("red car", "a red car", 1.0),
    ("car", "red car", math.exp(-1)),  # precision 1, brevity penalty exp(1 - 2/1)
    ("red red red", "red car", 1 / 3),  # clipped: one 'red' counts
    ("", "red car", 0.0),
])
def test_bleu1(prediction, gold, expected):
    assert bleu1(prediction, gold) == pytest.approx(expected)


def test_unknown_category_is_an_error():
    with pytest.raises(ValueError, match="not one of 1-5"):
        category_f1("x", "x", 6)
    assert token_f1("x", "") == 0.0
