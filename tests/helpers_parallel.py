"""Systems for the parallel and Ray tests (importable as helpers_parallel:Class; Ray workers get tests/ on
their PYTHONPATH from the test's ray.init).

A context fails when a marker file `<FAULT_DIR>/<kind>-<context id>` exists: `raise-` makes the system raise,
`die-` kills the worker process outright (a crashed Ray worker). The file is removed first, so the context
fails once and a resumed run finishes it.
"""
from __future__ import annotations

import os
from pathlib import Path

from helpers_systems import Summarizer

FAULT_DIR_ENV = "COMAM_TEST_FAULT_DIR"


def _fault(context_id: str) -> None:
    folder = os.environ.get(FAULT_DIR_ENV)
    if not folder:
        return
    for kind in ("raise", "die"):
        marker = Path(folder) / f"{kind}-{context_id}"
        if marker.exists():
            marker.unlink()
            if kind == "die":
                os._exit(1)
            raise RuntimeError(f"scripted failure on {context_id}")


class Faulty(Summarizer):
    """The Summarizer (one LLM call per message), failing on the contexts marked for it at its 2nd question."""

    name = "faulty"

    def reset(self, context_id):
        super().reset(context_id)
        self.context_id, self.answered = context_id, 0

    def answer(self, questions):
        self.answered += len(questions)
        if self.answered > 1:  # some of the context's answers are already written when it fails
            _fault(self.context_id)
        return super().answer(questions)
