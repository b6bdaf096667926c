"""Option-only answer leakage of the synthetic PersonaMem data: does any heuristic beat chance (25%)?

Generates each preset/seed into a temporary directory, reads the written CSV back, and scores heuristics
that look only at the question and its options:
  longest      the longest option (52% on the real 32k release)
  shortest     the shortest option
  long/sni     shortest for suggest_new_ideas, longest otherwise (67% on the real 32k release)
  q-overlap    the option sharing the most distinct words with the question text
  centroid     the option most similar (mean word Jaccard) to the other three: catches distractors
               made by perturbing the right answer one slot at a time

Usage: python benchmarks/leakage_synthetic.py [--presets mini 32k] [--seeds 0 1 2] [--real CSV] [--by-type]
--real scores a release questions CSV the same way, for comparison.
"""
from __future__ import annotations

import argparse
import ast
import csv
import re
import tempfile
from collections import defaultdict
from pathlib import Path

from comam_bench.data.synthetic import generate

_WORD = re.compile(r"[a-z0-9']+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _body(option: str) -> str:
    return option[4:] if re.match(r"\([a-d]\) ", option) else option


def _argmax(scores: list[float]) -> int:
    return max(range(len(scores)), key=lambda i: (scores[i], -i))  # ties: the first option


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def picks(row: dict) -> dict[str, int]:
    """The option index (0-3) each heuristic picks for one CSV row."""
    options = [_body(o) for o in ast.literal_eval(row["all_options"])]
    lengths = [len(o) for o in options]
    shortest = _argmax([-n for n in lengths])
    qtype = row["question_type"]
    question = row.get("user_question_or_message") or row.get("question", "")
    qw, ow = _words(question), [_words(o) for o in options]
    return {
        "longest": _argmax(lengths),
        "shortest": shortest,
        "long/sni": shortest if qtype == "suggest_new_ideas" else _argmax(lengths),
        "q-overlap": _argmax([len(qw & w) for w in ow]),
        "centroid": _argmax([sum(_jaccard(w, v) for j, v in enumerate(ow) if j != i) for i, w in enumerate(ow)]),
    }


HEURISTICS = ("longest", "shortest", "long/sni", "q-overlap", "centroid")


def score(csv_path: Path) -> dict[str, dict[str, int]]:
    """Hits of every heuristic per question type, plus "n": the number of questions of that type."""
    with open(csv_path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in rows:
        gold = "abcd".index(row["correct_answer"].strip("() "))
        counts = tally[row["question_type"]]
        counts["n"] += 1
        for name, pick in picks(row).items():
            counts[name] += pick == gold
    return tally


def _add(into: dict[str, dict[str, int]], tally: dict[str, dict[str, int]]) -> None:
    for qtype, counts in tally.items():
        for key, value in counts.items():
            into[qtype][key] += value


def _total(tally: dict[str, dict[str, int]]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for counts in tally.values():
        for key, value in counts.items():
            out[key] += value
    return out


def _line(label: str, counts: dict[str, int]) -> str:
    n = counts["n"]
    return f"{label:<34} {n:>5} " + " ".join(f"{counts[h] / n:>9.1%}" for h in HEURISTICS)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", nargs="+", default=["mini", "32k"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--real", type=Path, help="a release questions CSV to score for comparison")
    ap.add_argument("--by-type", action="store_true", help="also print per-type accuracy, pooled over seeds")
    args = ap.parse_args()
    print(f"{'data':<34} {'n':>5} " + " ".join(f"{h:>9}" for h in HEURISTICS))
    pooled: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    with tempfile.TemporaryDirectory() as tmp:
        for preset in args.presets:
            for seed in args.seeds:
                tally = score(generate(Path(tmp) / f"{preset}-{seed}", preset, seed)["questions"])
                print(_line(f"synthetic {preset} seed {seed}", _total(tally)))
                _add(pooled, tally)
    print(_line("synthetic, all runs above", _total(pooled)))
    if args.real:
        print(_line(f"real {args.real.name}", _total(score(args.real))))
    if args.by_type:
        print("\nper type, pooled over the synthetic runs above")
        for qtype, counts in sorted(pooled.items()):
            print(_line(qtype[:34], counts))

if __name__ == "__main__":
    main()
