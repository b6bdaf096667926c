"""What an exported lm-eval task folder points at (imports lm_eval; only lm-eval loads this module).

lm-eval 0.4.13 builds a prompt as system instruction + few-shot turns + one user turn from `doc_to_text`;
it has no field for a document's own multi-turn history. So `PersonaMemTask` overrides `fewshot_context`,
the one place lm-eval turns a document into the model's input: it builds PersonaMem's exact messages with
comam_bench.protocol (history kept from `window_start`, then the question message) and renders them with
the model's own chat template when lm-eval is run with `--apply_chat_template`; without it, the plain
transcript comam-bench's hf backend writes for a model without a template. Everything else (requests,
batching, lm-eval's multiple-choice `acc`/`acc_norm`) stays lm-eval's.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from lm_eval.api.task import ConfigurableTask

from comam_bench.api import Chat, Message, OptionScore
from comam_bench.lmeval.export import question_from_doc
from comam_bench.protocol import (LM_EVAL_METRICS, choose, is_correct, likelihood_chat, option_continuations,
                                  protocol_chat)


@lru_cache(maxsize=4)
def load_contexts(path: str) -> dict[str, list[Message]]:
    """An exported contexts.jsonl: context id -> messages (read once per process)."""
    out: dict[str, list[Message]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            out[str(row["context_id"])] = [Message(m["role"], m["content"]) for m in row["messages"]]
    return out


def docs_loader(folder: Path):
    """The `custom_dataset` callable of an exported folder: its docs.jsonl as a `test` split, each row told
    where its contexts file is (so the folder can move, and the comam-bench model can read the history)."""

    def load_docs(**_metadata: Any):
        import datasets

        rows = [json.loads(line) for line in (folder / "docs.jsonl").read_text(encoding="utf-8").splitlines() if line]
        for row in rows:
            row["contexts_file"] = str(folder / "contexts.jsonl")
        return datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)})

    return load_docs


def doc_chat(doc: dict[str, Any], protocol: str) -> Chat:
    """PersonaMem's messages for one exported document under a protocol ("discriminative" | "likelihood")."""
    q = question_from_doc(doc)
    history = load_contexts(doc["contexts_file"])[q.context_id][int(doc["window_start"]):q.end_index]
    return protocol_chat(history, q) if protocol == "discriminative" else likelihood_chat(history, q)


def plain_transcript(chat: Chat) -> str:
    """The prompt comam-bench's hf backend writes for a model without a chat template."""
    return "".join(f"{m['role']}: {m['content']}\n" for m in chat) + "assistant:"


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """The likelihood protocol's four continuations, in letter order."""
    return option_continuations(question_from_doc(doc))


def process_discriminative(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """comam-bench's verdict on the generated answer: the letter set must be exactly {gold}."""
    return {"acc": float(is_correct(results[0], doc["gold"]))}


def process_likelihood(doc: dict[str, Any], results: list[tuple[float, bool]]) -> dict[str, float]:
    """lm-eval's `acc` (summed log-likelihood) and `acc_norm` (per character), chosen as lm-eval chooses
    them, plus `acc_token` (per token, comam-bench's headline) where the export recorded each option's
    tokens: lm-eval hands a task log-likelihoods only. All three go through protocol.choose, so the
    letters are the ones `comam-bench run --protocol likelihood` picks from the same log-likelihoods."""
    choices = doc_to_choice(doc)
    tokens = doc.get("option_tokens") or [1] * len(choices)
    scores = [OptionScore(float(ll), int(n), len(text), bool(greedy))
              for (ll, greedy), n, text in zip(results, tokens, choices)]
    norms = ("token", "char", "sum") if doc.get("option_tokens") else ("char", "sum")
    return {LM_EVAL_METRICS[norm]: float(choose(scores, norm) == doc["gold"]) for norm in norms}


class PersonaMemTask(ConfigurableTask):
    """A ConfigurableTask whose prompt is the document's own multi-turn chat (see the module docstring)."""

    def __init__(self, config: dict[str, Any] | None = None, **kwargs: Any) -> None:
        config = {k: v for k, v in (config or {}).items() if k != "class"}
        super().__init__(config=config, **kwargs)

    @property
    def protocol(self) -> str:
        return "likelihood" if self.OUTPUT_TYPE == "multiple_choice" else "discriminative"

    def fewshot_context(self, doc, num_fewshot, system_instruction=None, apply_chat_template=False,
                        fewshot_as_multiturn=False, chat_template=None, gen_prefix=None):
        """The rendered PersonaMem chat; few-shot examples and a system instruction would change the benchmark."""
        if num_fewshot or system_instruction:
            raise ValueError("PersonaMem tasks are zero-shot with the benchmark's own messages: "
                             "drop --num_fewshot and --system_instruction")
        chat = doc_chat(doc, self.protocol)
        if apply_chat_template and chat_template is not None:
            return chat_template(chat, add_generation_prompt=True)
        return plain_transcript(chat)
