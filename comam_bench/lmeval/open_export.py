"""`comam-bench export lm-eval` for an open-ended task (LoCoMo): one `generate_until` task scored with the
same F1 as `comam-bench run` (comam_bench.protocols.locomo_f1 under the question's category).

The folder holds docs.jsonl (one document per question: its text, gold answer, category, where its
conversation starts in the window), contexts.jsonl (the conversations as the harness's messages) and
<task>-open-ended.yaml, whose utils.py imports comam_bench.lmeval.open_task. Those files are LoCoMo's data
(CC BY-NC 4.0): they are written where the user asks, for their own evaluation, never into this repository.
Like the PersonaMem export, no lm_eval import happens here.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from comam_bench.api import Question, TaskData
from comam_bench.lmeval.folder import (EXPORT_VERSION, description, used_contexts, window_note, window_starts,
                                       write_jsonl)
from comam_bench.protocols.open_ended import VERSION

_UTILS = '''"""lm-eval glue for this exported open-ended (LoCoMo) task. Everything is imported from comam_bench (never
copied), so the task scores with the harness's own F1. Needs comam-bench installed."""
from pathlib import Path

from comam_bench.lmeval.open_task import OpenEndedTask, docs_loader, process_open_ended  # noqa: F401

load_docs = docs_loader(Path(__file__).resolve().parent)
'''


def open_doc(q: Question, window_start: int) -> dict[str, Any]:
    """One lm-eval document for an open-ended question (question_from_doc reads it back: no options)."""
    return {"question_id": q.id, "type": q.type, "raw_type": q.raw_type, "topic": q.topic, "question": q.text,
            "options": [], "options_raw": "", "gold": q.gold, "category": q.extra.get("category"),
            "context_id": q.context_id, "end_index": q.end_index, "window_start": int(window_start),
            "distance_blocks": None, "distance_tokens": None,
            "evidence": list(q.evidence) if q.evidence is not None else None}


def export_open_ended(name: str, data: TaskData, questions: Sequence[Question], out: Path, llm=None,
                      answer_tokens: int = 64) -> dict[str, Path]:
    """Write the folder (see the module docstring); returns what was written, by kind."""
    starts = window_starts(llm, data, questions, answer_tokens) if llm is not None else {q.id: 0 for q in questions}
    out.mkdir(parents=True, exist_ok=True)
    written = {"docs": out / "docs.jsonl", "contexts": out / "contexts.jsonl", "utils": out / "utils.py",
               "open-ended": out / f"{name}-open-ended.yaml", "readme": out / "README.md"}
    write_jsonl(written["docs"], [open_doc(q, starts[q.id]) for q in questions])
    write_jsonl(written["contexts"], used_contexts(data.contexts, questions))
    written["utils"].write_text(_UTILS)
    window = window_note(llm, answer_tokens, questions, starts)
    meta = {"export_version": EXPORT_VERSION, "task": name, "data_files": dict(sorted(data.files.items())),
            "questions": len(questions), "window": window}
    written["open-ended"].write_text(_yaml(name, meta, answer_tokens))
    written["readme"].write_text(_readme(name, out, window))
    return written


def _yaml(name: str, meta: dict[str, Any], answer_tokens: int) -> str:
    import yaml

    config = {"task": f"{name}-open-ended", "test_split": "test", "doc_to_text": "question",
              "output_type": "generate_until", "doc_to_target": "gold",
              "generation_kwargs": {"until": [], "max_gen_toks": answer_tokens, "do_sample": False},
              "metric_list": [{"metric": "f1", "aggregation": "mean", "higher_is_better": True}],
              "metadata": {"version": 1.0, "protocol": VERSION, **meta, "description": description(meta["window"])}}
    header = (f"# {name}, open-ended protocol (LoCoMo's F1), exported by comam-bench ({EXPORT_VERSION}).\n"
              f"# {description(meta['window'])}\n")
    functions = {"class": "OpenEndedTask", "custom_dataset": "load_docs", "process_results": "process_open_ended"}
    tagged = "".join(f"{key}: !function utils.{fn}\n" for key, fn in functions.items())
    return header + tagged + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=110)


def _readme(name: str, out: Path, window: dict[str, Any]) -> str:
    return f"""# {name} for lm-evaluation-harness (exported by comam-bench)

{description(window)}

These files hold LoCoMo's data (CC BY-NC 4.0): keep them for your own evaluation; do not redistribute them.

    lm_eval --model hf --model_args pretrained=DIR_OR_HUB_ID --include_path {out} \\
        --tasks {name}-open-ended --apply_chat_template

Metric: `f1`, LoCoMo's official answer F1 under each question's category, computed by comam-bench's scorer
on the text after the answer's last <final_answer> (the whole answer when it has none), as `comam-bench run` does.
"""
