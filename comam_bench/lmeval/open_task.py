"""What an exported open-ended (LoCoMo) lm-eval folder points at (imports lm_eval; only lm-eval loads this).

The prompt is the harness's own: the conversation kept from `window_start`, then the open-ended question
message (comam_bench.protocol.protocol_chat on a question without options); the score is the harness's F1.
"""
from __future__ import annotations

from typing import Any

from comam_bench.api import Chat
from comam_bench.lmeval.export import question_from_doc
from comam_bench.lmeval.task import PersonaMemTask, docs_loader, load_contexts  # noqa: F401 - docs_loader for utils
from comam_bench.protocol import protocol_chat
from comam_bench.protocols.locomo_f1 import category_f1
from comam_bench.protocols.open_ended import extract_prediction


def open_doc_chat(doc: dict[str, Any]) -> Chat:
    """The messages one exported open-ended document is asked with."""
    q = question_from_doc(doc)
    history = load_contexts(doc["contexts_file"])[q.context_id][int(doc["window_start"]):q.end_index]
    return protocol_chat(history, q)


def process_open_ended(doc: dict[str, Any], results: list[str]) -> dict[str, float]:
    """comam-bench's score of the generated answer: LoCoMo's F1 under the document's category."""
    return {"f1": float(category_f1(extract_prediction(results[0]), doc["gold"], int(doc["category"])))}


class OpenEndedTask(PersonaMemTask):
    """PersonaMemTask's multi-turn prompt, built by open_doc_chat."""

    @property
    def protocol(self) -> str:
        return "open-ended"

    def fewshot_context(self, doc, num_fewshot, system_instruction=None, apply_chat_template=False,
                        fewshot_as_multiturn=False, chat_template=None, gen_prefix=None):
        if num_fewshot or system_instruction:
            raise ValueError("open-ended tasks are zero-shot with the harness's own messages: "
                             "drop --num_fewshot and --system_instruction")
        chat = open_doc_chat(doc)
        if apply_chat_template and chat_template is not None:
            return chat_template(chat, add_generation_prompt=True)
        from comam_bench.lmeval.task import plain_transcript

        return plain_transcript(chat)
