"""PersonaMem's evaluation protocol: how a question is asked, how the letter is extracted, how it is scored.

Every system and every trainer scores answers with these functions (the reward is the task's scorer).
"""
from __future__ import annotations

import re
from typing import Sequence

from comam_bench.api import Chat, Message, Question

PROTOCOL_VERSION = "personamem-discriminative-v1"

INSTRUCTIONS = (
    "Find the most appropriate model response and give your final answer (a), (b), (c), or (d) "
    "after the special token <final_answer>."
)

_PAREN_LETTER = re.compile(r"\(([a-d])\)")
_BARE_LETTER = re.compile(r"\b([a-d])\b")


def question_message(q: Question) -> str:
    """The one user message PersonaMem appends after the context prefix."""
    return q.text + "\n\n" + INSTRUCTIONS + "\n\n" + q.options_raw


def protocol_chat(prefix: Sequence[Message], q: Question) -> Chat:
    """context[:end_index] followed by the question message (the benchmark's exact messages)."""
    chat = [{"role": m.role, "content": m.content} for m in prefix]
    chat.append({"role": "user", "content": question_message(q)})
    return chat


def memory_chat(memory_text: str, q: Question, header: str = "Relevant memory of the conversation with this user:") -> Chat:
    """The standard answer chat for a memory system: its memory as a system message, then the question."""
    chat: Chat = []
    if memory_text.strip():
        chat.append({"role": "system", "content": f"{header}\n{memory_text}"})
    chat.append({"role": "user", "content": question_message(q)})
    return chat


def _letters(text: str) -> set[str]:
    found = set(_PAREN_LETTER.findall(text))
    return found if found else set(_BARE_LETTER.findall(text))


def extract_letters(response: str) -> set[str]:
    """Letters in the answer part of a response (upstream's newest rule, first stage)."""
    if "<final_answer>" in response:
        tail = response.split("<final_answer>")[-1].replace("</final_answer>", "")
        return _letters(tail.lower())
    return _letters(response.lower())


def extract_answer(response: str) -> str | None:
    """The single letter a response commits to, or None when it names none or several.

    Mirrors the scoring rule: the text after the last <final_answer> first, then the whole response.
    """
    first = extract_letters(response)
    if len(first) == 1:
        return next(iter(first))
    whole = _letters(response.lower())
    return next(iter(whole)) if len(whole) == 1 else None


def is_correct(response: str, gold: str) -> bool:
    """Correct only if the collected letter set is exactly {gold}; else the same check on the whole response."""
    gold = gold.strip("() ").lower()
    if extract_letters(response) == {gold}:
        return True
    return _letters(response.lower()) == {gold}


def judge_answer(response: str, gold: str) -> dict:
    """{"extracted", "correct", "stage"} under the two-stage rule, never contradicting each other.

    `correct` is is_correct(); `extracted` is the letter of the stage that decided it (the gold letter when
    either stage matched, else extract_answer's letter); `stage` says which: "final_answer" (the text after
    the last <final_answer>, or the whole response when there is no tag) or "whole_response" (the fallback
    on the whole text), None when no stage names exactly one letter.
    """
    gold = gold.strip("() ").lower()
    first, whole = extract_letters(response), _letters(response.lower())
    if first == {gold}:
        return {"extracted": gold, "correct": True, "stage": "final_answer"}
    if whole == {gold}:
        return {"extracted": gold, "correct": True, "stage": "whole_response"}
    if len(first) == 1:
        return {"extracted": next(iter(first)), "correct": False, "stage": "final_answer"}
    if len(whole) == 1:
        return {"extracted": next(iter(whole)), "correct": False, "stage": "whole_response"}
    return {"extracted": None, "correct": False, "stage": None}
