"""The `comam-bench` lm-eval model: a memory system of this package answering an exported PersonaMem task.

    python -m comam_bench.lmeval --model comam-bench --model_args system=rag,model=smollm2 \
        --include_path EXPORT_DIR --tasks personamem-mini-discriminative

lm-eval hands a model all requests of one kind at once, in its own order (longest prompt first). A memory
system must instead read each shared context once, in history order, and answer every question from the
memory as it stood at that question's end index. So requests are grouped by context, sorted by end index,
and the runner's own context worker (comam_bench.worker) runs over them: `reset` once per context, `ingest`
each message once, `answer` (or `likelihood_answer`) per position. Answers go back in lm-eval's order. Any
other model_args key is a system argument (`top_k=5`), typed and checked as `comam-bench run` checks it.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model

from comam_bench.api import Question
from comam_bench.lmeval.folder import MODEL_NAME
from comam_bench.lmeval.export import question_from_doc
from comam_bench.lmeval.task import load_contexts, plain_transcript
from comam_bench.errors import ComamBenchError

_OURS = ("system", "model", "embedder", "seed", "batch_size")
_LM_EVAL_EXTRAS = ("max_batch_size", "device")  # lm-eval passes these to every model; a system takes none


class NotAnExportedTask(ComamBenchError, ValueError):
    """A request whose document did not come from `comam-bench export lm-eval`."""


@register_model(MODEL_NAME)
class ComamBenchLM(LM):
    """Answers PersonaMem requests through a comam-bench memory system (see the module docstring)."""

    def __init__(self, system: str = "full-context", model: str | None = None, embedder: str = "minilm",
                 seed: int = 0, batch_size: int | str = 4, llm=None, **kwargs: Any) -> None:
        """`llm`: an already-loaded comam-bench LLM (tests, benchmarks); otherwise `model` is loaded."""
        super().__init__()
        from comam_bench.worker import Models

        system_args = {k: v for k, v in kwargs.items() if k not in _LM_EVAL_EXTRAS}
        batch = max(1, int(batch_size)) if str(batch_size).isdigit() else 4  # "auto" -> our default
        self.plan = lm_eval_plan(str(system), system_args, model, embedder, int(seed), batch)
        self.spec = self.plan.system_spec
        self.llm = llm if llm is not None else self.plan.load_llm()
        self.worker = self.plan.worker(Models(self.llm, embedder))

    # ------------------------------------------------------------------ lm-eval's three request kinds
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        """The system's answer text per request (cut at the request's `until` strings, as lm-eval's models do)."""
        out: list[str | None] = [None] * len(requests)
        for group in self._by_position([(i, r.doc, r.doc_id) for i, r in enumerate(requests)]):
            rows = self.worker.answer([q for _, q in group])  # asked, checked and judged as a run's are
            for (i, _), row in zip(group, rows):
                args = requests[i].args
                out[i] = _cut(row["raw_output"], args[1].get("until") if len(args) > 1 else None)
        return out  # type: ignore[return-value]

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        """(log-probability, greedy) per option request: the system's likelihood chat (its `likelihood_answer`
        hook), scored by the model; the four options of one question are scored together."""
        per_doc: dict[tuple, list[int]] = defaultdict(list)
        for i, r in enumerate(requests):
            per_doc[(r.task_name, r.doc_id)].append(i)
        firsts = [(key, requests[idxs[0]]) for key, idxs in per_doc.items()]
        out: list[tuple[float, bool] | None] = [None] * len(requests)
        for group in self._by_position([(key, r.doc, r.doc_id) for key, r in firsts]):
            batch = [q for _, q in group]
            self.worker.meter.phase = "answer"
            answers = self.worker.system.likelihood_answer(batch)
            self.worker.check_answers(batch, answers)
            for (key, _), answer in zip(group, answers):
                idxs = sorted(per_doc[key], key=lambda i: requests[i].idx)  # options in letter order
                scores = self.llm.loglikelihood(answer.prompt, [requests[i].args[1] for i in idxs])
                for i, s in zip(idxs, scores):
                    out[i] = (float(s.logprob), bool(s.greedy))
        return out  # type: ignore[return-value]

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False):
        raise NotImplementedError("the comam-bench model answers PersonaMem questions only; it has no "
                                  "rolling log-likelihood (perplexity) for other tasks")

    # ------------------------------------------------------------------ the runner's loop, in lm-eval's terms
    def _by_position(self, items: Sequence[tuple[Any, dict, int]]):
        """Yield batches [(key, Question)] in the order a memory system must see them: per context (reset
        once, ingest each message once, in history order), per end index, at most batch_size at a time."""
        contexts: dict[tuple[str, str], list[tuple[int, Any, Question]]] = defaultdict(list)
        for key, doc, doc_id in items:
            q = _question(doc)
            contexts[(doc["contexts_file"], q.context_id)].append((doc_id, key, q))
        for (path, cid), rows in contexts.items():
            rows.sort(key=lambda t: (t[2].end_index, t[0]))
            keys = {id(q): key for _, key, q in rows}  # one Question object per request
            for batch in self.worker.batches(cid, load_contexts(path)[cid], [q for _, _, q in rows]):
                yield [(keys[id(q)], q) for q in batch]

    # ------------------------------------------------------------------ what lm-eval asks of a chat model
    @property
    def tokenizer_name(self) -> str:
        return f"{MODEL_NAME}:{self.spec.name}"

    def chat_template(self, chat_template: bool | str = False) -> str:
        return ""

    def apply_chat_template(self, chat_history, add_generation_prompt: bool = True) -> str:
        """Only for lm-eval's logs: the system builds its own prompt from the document, not from this text."""
        return plain_transcript(chat_history)

    def get_model_info(self) -> dict[str, Any]:
        return {"comam_bench_system": self.spec.as_dict(),
                "model": self.llm.identity() if self.llm is not None else None}


def lm_eval_plan(system: str, system_args: dict[str, Any], model: str | None, embedder: str, seed: int,
                 batch_size: int):
    """The worker plan of an lm-eval model: the system checked and typed as a run's is, PersonaMem's
    discriminative protocol (lm-eval's own metrics score the replies; loglikelihood requests bring their own
    continuations)."""
    from comam_bench import protocols
    from comam_bench.plan import WorkerPlan, checked_system, default_model

    spec, cls, args = checked_system(system, system_args)
    proto = protocols.for_run("discriminative", None, cls)
    return WorkerPlan(system=system, system_spec=spec, system_cls=cls, system_args=args, proto=proto,
                      model=default_model(cls, spec, model), embedder=embedder, seed=seed, batch_size=batch_size)


def _question(doc: dict) -> Question:
    if not isinstance(doc, dict) or "contexts_file" not in doc or "end_index" not in doc:
        raise NotAnExportedTask("the comam-bench lm-eval model answers only tasks written by `comam-bench export "
                                "lm-eval` (their documents carry the question and where its history is)")
    return question_from_doc(doc)


def _cut(text: str, until: Sequence[str] | str | None) -> str:
    stops = [until] if isinstance(until, str) else list(until or [])
    for stop in stops:
        if stop and stop in text:
            text = text.split(stop)[0]
    return text

