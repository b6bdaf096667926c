"""benchmarks/gpu_check.py's likelihood part works with or without Contract A's LLM.loglikelihood."""
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import gpu_check  # noqa: E402

from comam_bench.api import Question  # noqa: E402
from comam_bench.llm.scripted import ScriptedLLM  # noqa: E402

Q = Question("q", "recall_user_shared_facts", "recall_user_shared_facts", "t", "Which?",
             ("(a) tea", "(b) green tea", "(c) x", "(d) y"), "(a) tea (b) green tea (c) x (d) y", "a", "c", 1)


@dataclass
class Score:
    logprob: float
    tokens: int


class Scoring(ScriptedLLM):
    def loglikelihood(self, chat, continuations, **kwargs):
        return [Score(-1.0, len(c.split())) for c in continuations]


def test_likelihood_is_measured_where_the_backend_has_it():
    out = gpu_check.likelihood(Scoring(), "cpu", [Q, Q])
    assert out["questions"] == 2 and out["continuation_tokens"] == 2 * (1 + 2 + 1 + 1)


def test_likelihood_is_skipped_with_a_note_where_it_is_missing():
    assert "Contract A" in gpu_check.likelihood(ScriptedLLM(), "cpu", [Q])["skipped"]
