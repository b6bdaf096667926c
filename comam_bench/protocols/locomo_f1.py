"""LoCoMo's answer scores, written here from the rules of the official task_eval/evaluation.py.

    normalise(text)        lower-case, drop punctuation (commas first), drop the words a/an/the/and, collapse spaces
    token_f1(pred, gold)   F1 over Porter-stemmed normalised tokens (0 when nothing is shared or a side is empty)
    multi_f1(pred, gold)   category 1: both split on ","; mean over gold parts of the best F1 against a predicted part
    category_f1(...)       the official per-category rule: 1 multi_f1; 2, 4 token_f1; 3 token_f1 against the gold cut
                           at its first ";"; 5 1.0 if the prediction says "no information available" or "not
                           mentioned" (any case), else 0.0
    bleu1(pred, gold)      BLEU-1 (unigram precision, clipped, times the brevity penalty) over the same tokens

The stemmer is NLTK's PorterStemmer in its default mode, the one the official code constructs (it needs no NLTK
data files). Only this module imports nltk, and only when a score is computed.
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter
from functools import lru_cache

NOT_IN_CONVERSATION = ("no information available", "not mentioned")  # category 5's accepted phrases
_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCT = set(string.punctuation)


def normalise(text: object) -> str:
    """The official normalisation: commas removed, lower-cased, punctuation and a/an/the/and removed, spaces collapsed."""
    s = str(text).replace(",", "").lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", s).split())


@lru_cache(maxsize=1)
def _stemmer():
    try:
        from nltk.stem import PorterStemmer
    except ImportError:  # a core dependency; a broken install says so
        raise RuntimeError("LoCoMo's F1 needs nltk's PorterStemmer (a comam-bench dependency): "
                           "pip install 'nltk==3.10.4'") from None
    return PorterStemmer()


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """One token's Porter stem (cached: answers repeat the same words)."""
    return _stemmer().stem(word)


def tokens(text: object) -> list[str]:
    """Stemmed tokens of the normalised text."""
    return [stem(w) for w in normalise(text).split()]


def token_f1(prediction: object, gold: object) -> float:
    """Token F1 of two texts after normalisation and stemming."""
    pred, ref = tokens(prediction), tokens(gold)
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def multi_f1(prediction: object, gold: object) -> float:
    """Category 1: each comma-separated gold part scored by its best predicted part; the mean over gold parts."""
    preds = [p.strip() for p in str(prediction).split(",")]
    golds = [g.strip() for g in str(gold).split(",")]
    return sum(max(token_f1(p, g) for p in preds) for g in golds) / len(golds)


def says_not_mentioned(prediction: object) -> bool:
    """Category 5's rule: the prediction contains one of the two phrases."""
    low = str(prediction).lower()
    return any(phrase in low for phrase in NOT_IN_CONVERSATION)


def scored_gold(gold: object, category: int) -> str:
    """The gold text the rule compares with: category 3 keeps what precedes the first ';'."""
    text = str(gold)
    return text.split(";")[0].strip() if category == 3 else text


def category_f1(prediction: object, gold: object, category: int) -> float:
    """The official score of one answer under its category's rule (ValueError for a category not 1-5)."""
    if category == 5:
        return 1.0 if says_not_mentioned(prediction) else 0.0
    if category == 1:
        return multi_f1(prediction, gold)
    if category in (2, 3, 4):
        return token_f1(prediction, scored_gold(gold, category))
    raise ValueError(f"LoCoMo category {category!r} is not one of 1-5")


def bleu1(prediction: object, gold: object) -> float:
    """BLEU-1 of one answer: clipped unigram precision times the brevity penalty (0 for an empty prediction)."""
    pred, ref = tokens(prediction), tokens(gold)
    if not pred or not ref:
        return 0.0
    precision = sum((Counter(pred) & Counter(ref)).values()) / len(pred)
    penalty = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return precision * penalty
