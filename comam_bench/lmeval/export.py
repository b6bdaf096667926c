"""Write a PersonaMem task as an lm-eval task folder (no lm_eval import: exporting needs only this package).

The folder holds:
  docs.jsonl       one row per question (the Question's fields + `window_start`), in the harness's order
  contexts.jsonl   the shared contexts the questions use, cut at their last question's end index
  utils.py         a few lines importing comam_bench.lmeval.task: the protocol code is imported, not copied
  <task>-discriminative.yaml   generate_until, scored with protocol.is_correct (metric acc)
  <task>-likelihood.yaml       multiple_choice over protocol.option_continuations: acc (comam-bench's `sum`
                               norm), acc_norm (`char`) and, exported with a model, acc_token (`token`, the
                               headline: each option's tokens under that model's tokenizer are in docs.jsonl)
  README.md        how to run it, and how long histories were truncated

Truncation is fixed at export time with the model whose window it is for: each question keeps the newest
history messages that fit (systems.sanity.window_start, the rule full-context uses), so lm-eval's hf model
and `comam-bench run --system full-context` see the same messages.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import shlex

from comam_bench.api import LETTERS, Question
from comam_bench import protocol
from comam_bench.protocol import LM_EVAL_METRICS, PROTOCOL_VERSION, PROTOCOLS, option_continuations

# The likelihood protocol's version string lives in protocol.py once the likelihood issue is merged.
LIKELIHOOD_VERSION = getattr(protocol, "LIKELIHOOD_VERSION", "personamem-likelihood-v1")
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS
from comam_bench.lmeval.folder import (EXPORT_VERSION, MODEL_NAME, description, used_contexts,  # noqa: F401
                                       window_note, window_starts, write_jsonl)

_UTILS = '''"""lm-eval glue for this exported PersonaMem task. Everything is imported from comam_bench (never copied),
so a fix to the protocol there reaches this task too. Needs comam-bench installed (`pip install comam-bench[lm-eval]`)."""
from pathlib import Path

from comam_bench.lmeval.task import (PersonaMemTask, docs_loader, doc_to_choice, process_discriminative,  # noqa: F401
                                    process_likelihood)

load_docs = docs_loader(Path(__file__).resolve().parent)
'''


def doc_from_question(q: Question, window_start: int, llm=None) -> dict[str, Any]:
    """One lm-eval document: the question's fields, its gold index, the first history message kept and,
    with `llm`, each option's token count under its tokenizer (for acc_token: lm-eval returns no counts)."""
    tokens = {"option_tokens": [llm.count_tokens(c) for c in option_continuations(q)]} if llm is not None else {}
    return {
        "question_id": q.id, "type": q.type, "raw_type": q.raw_type, "topic": q.topic, "question": q.text,
        "options": list(q.options), "options_raw": q.options_raw, "gold": q.gold,
        "gold_index": LETTERS.index(q.gold), "context_id": q.context_id, "end_index": q.end_index,
        "window_start": int(window_start),
        "distance_blocks": q.distance_blocks, "distance_tokens": q.distance_tokens,
        "evidence": list(q.evidence) if q.evidence is not None else None,  # for oracle-evidence; never prompted
        **tokens,
    }


def question_from_doc(doc: dict[str, Any]) -> Question:
    """The Question an exported document was written from."""
    return Question(id=str(doc["question_id"]), type=doc["type"], raw_type=doc["raw_type"], topic=doc["topic"],
                    text=doc["question"], options=tuple(doc["options"]), options_raw=doc["options_raw"],
                    gold=doc["gold"], context_id=str(doc["context_id"]), end_index=int(doc["end_index"]),
                    distance_blocks=doc.get("distance_blocks"), distance_tokens=doc.get("distance_tokens"),
                    evidence=tuple(doc["evidence"]) if doc.get("evidence") is not None else None)


def export_lm_eval(task: str, out: str | Path, *, data_dir: str | None = None, llm=None,
                   answer_tokens: int = DEFAULT_ANSWER_TOKENS) -> dict[str, Path]:
    """Write the lm-eval task folder for `task` into `out`; returns what was written, by kind.

    `llm` fixes truncation (its tokenizer and window); None keeps every history message (no truncation)."""
    from comam_bench.data import load_task
    from comam_bench.registry import load_task_spec
    from comam_bench.runner import ordered_questions

    spec = load_task_spec(task)
    data = load_task(spec, data_dir)
    questions = ordered_questions(data, None)
    if not questions:
        from comam_bench.errors import RunError

        raise RunError(f"task {task!r} has no usable questions; run `comam-bench data validate --task {task}`")
    if not questions[0].options:  # an open-ended task (LoCoMo): one generate_until task scored by F1
        from comam_bench.lmeval.open_export import export_open_ended

        return export_open_ended(spec["name"], data, questions, Path(out), llm, answer_tokens)
    starts = window_starts(llm, data, questions, answer_tokens) if llm is not None else {q.id: 0 for q in questions}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = {"docs": out / "docs.jsonl", "contexts": out / "contexts.jsonl", "utils": out / "utils.py"}
    write_jsonl(written["docs"], [doc_from_question(q, starts[q.id], llm) for q in questions])
    write_jsonl(written["contexts"], used_contexts(data.contexts, questions))
    written["utils"].write_text(_UTILS)
    window = window_note(llm, answer_tokens, questions, starts)
    meta = {"export_version": EXPORT_VERSION, "task": spec["name"], "data_files": dict(sorted(data.files.items())),
            "questions": len(questions), "window": window}
    for protocol in PROTOCOLS:
        path = out / f"{spec['name']}-{protocol}.yaml"
        path.write_text(_task_yaml(spec["name"], protocol, meta, answer_tokens))
        written[protocol] = path
    written["readme"] = out / "README.md"
    written["readme"].write_text(_readme(spec["name"], out, window, llm.spec if llm is not None else None))
    return written


def _task_yaml(name: str, protocol: str, meta: dict[str, Any], answer_tokens: int) -> str:
    import yaml

    # lm-eval resolves `!function utils.name` next to the YAML; safe_dump cannot write tags, so these go by hand.
    functions = {"class": "PersonaMemTask", "custom_dataset": "load_docs"}
    if protocol == "discriminative":
        body = {"output_type": "generate_until", "doc_to_target": "gold",
                "generation_kwargs": {"until": [], "max_gen_toks": answer_tokens, "do_sample": False},
                "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]}
        functions["process_results"] = "process_discriminative"
        version = PROTOCOL_VERSION
    else:
        # Our process_results gives lm-eval's acc and acc_norm unchanged plus acc_token where counts exist.
        metrics = ["acc", "acc_norm"] + (["acc_token"] if meta["window"]["model"] is not None else [])
        body = {"output_type": "multiple_choice", "doc_to_target": "gold_index", "target_delimiter": "",
                "metric_list": [{"metric": m, "aggregation": "mean", "higher_is_better": True} for m in metrics]}
        functions["doc_to_choice"] = "doc_to_choice"
        functions["process_results"] = "process_likelihood"
        version = LIKELIHOOD_VERSION
    config = {"task": f"{name}-{protocol}", "test_split": "test", "doc_to_text": "question", **body,
              "metadata": {"version": 1.0, "protocol": version, **meta, "description": description(meta["window"])}}
    header = (f"# PersonaMem {name}, {protocol} protocol, exported by comam-bench ({EXPORT_VERSION}).\n"
              f"# {description(meta['window'])}\n")
    tagged = "".join(f"{key}: !function utils.{fn}\n" for key, fn in functions.items())
    return header + tagged + yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=110)


def lm_eval_command(name: str, out: str | Path, model: str | None,
                    kinds: Sequence[str] = ("discriminative", "likelihood")) -> str:
    """The exact `lm_eval` command line for the exported tasks (`kinds`: both multiple-choice ones, or
    LoCoMo's open-ended one) on `model` (a comam-bench model spec; the embedded `smollm2` becomes its GGUF
    file inside site-packages), offline."""
    tasks = ",".join(f"{name}-{kind}" for kind in kinds)
    args, device = _lm_eval_model_args(model)
    parts = ["HF_HUB_OFFLINE=1", "lm_eval", "--model", "hf", "--model_args", args, *(["--device", device] if device else []),
             "--include_path", str(Path(out).resolve()), "--tasks", tasks, "--apply_chat_template"]
    return " ".join(shlex.quote(p) if i else p for i, p in enumerate(parts))


def _lm_eval_model_args(model: str | None) -> tuple[str, str | None]:
    """lm-eval's hf `--model_args` and `--device` for a comam-bench hf spec; a placeholder for anything else."""
    from comam_bench.llm.spec import ModelLoadError, parse_model_spec, resolve_alias

    try:
        ms = resolve_alias(parse_model_spec(model or "smollm2"))
    except (ModelLoadError, ValueError):  # not a spec, or the embedded model's package is not installed
        ms = None
    if ms is None or ms.backend != "hf":  # an HTTP server or vLLM: lm-eval needs the weights' folder
        return "pretrained=DIR_OF_THE_SAME_WEIGHTS", None
    target, gguf = Path(ms.target), ms.options.get("gguf_file")
    if target.suffix == ".gguf":  # transformers reads a GGUF from its folder plus the file name
        target, gguf = target.parent, target.name
    args = [f"pretrained={target if gguf else ms.target}"]
    if gguf:  # comam-bench loads a GGUF as float32 unless told otherwise; lm-eval must do the same
        args += [f"gguf_file={gguf}", f"dtype={ms.options.get('dtype', 'float32')}"]
    elif "dtype" in ms.options:
        args.append(f"dtype={ms.options['dtype']}")
    device = ms.options.get("device") or "cpu"
    return ",".join(args), None if device == "auto" else device


def _readme(name: str, out: Path, window: dict[str, Any], model: str | None = None) -> str:
    metrics = ", ".join(f"`{LM_EVAL_METRICS[n]}` = comam-bench's `{n}` norm" for n in ("token", "char", "sum"))
    token_note = "" if window["model"] is not None else (
        " This folder was exported without a model (--no-truncation), so it has no per-option token counts and "
        "no `acc_token`; export with --model to get it.")
    return f"""# {name} for lm-evaluation-harness (exported by comam-bench)

{description(window)}

Run a plain model on both tasks (`--apply_chat_template`: PersonaMem's prompt is a multi-turn chat):

    {lm_eval_command(name, out, model)}

Run a comam-bench memory system (lm-eval 0.4.13 cannot discover external models, so the module registers it):

    python -m comam_bench.lmeval --model comam-bench --model_args system=rag,model=smollm2 \\
        --include_path {Path(out).resolve()} --tasks {name}-discriminative

Metrics: discriminative `acc` (comam-bench's extraction rule); likelihood {metrics} (the per-token one is
comam-bench's headline, counted with the export model's tokenizer, so it matches a run of that model).{token_note}
"""
