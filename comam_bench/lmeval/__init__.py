"""lm-evaluation-harness interop, both directions.

- `export.export_lm_eval(...)` writes an lm-eval task folder for a PersonaMem task (both protocols);
  `comam-bench export lm-eval` is its command. No lm_eval import: exporting needs only this package.
- `task` holds what the exported YAML points at (a Task class that presents PersonaMem's exact multi-turn
  messages, the discriminative scorer); `model` is the `comam-bench` lm-eval model that answers through a
  memory system. Both import lm_eval, so nothing here imports them: `import comam_bench` stays light.
- `python -m comam_bench.lmeval ARGS` is `lm_eval ARGS` with the `comam-bench` model registered
  (lm-eval 0.4.13 has no plugin discovery for models: no entry-point group, no import hook).
"""
from __future__ import annotations

from comam_bench.lmeval.folder import MODEL_NAME  # noqa: F401 - its public name here


def register() -> None:
    """Register the `comam-bench` model with lm-eval (imports lm_eval; safe to call twice)."""
    from comam_bench.lmeval import model  # noqa: F401  (registers on import)
