"""PersonaMem's evaluation protocol: how a question is asked, how the letter is extracted, how it is scored.

Every system and every trainer scores answers with these functions (the reward is the task's scorer).
"""
from __future__ import annotations

import re
from typing import Sequence

from comam_bench.api import LETTERS, Chat, Message, OptionScore, Question

PROTOCOL_VERSION = "personamem-discriminative-v1"

PROTOCOLS = ("discriminative", "likelihood")
NORMS = ("token", "char", "sum")  # char equals lm-eval's acc_norm, sum equals lm-eval's acc
HEADLINE_NORM = "token"  # PersonaMem's "length-normalised" score

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


# --------------------------------------------------------------------------- the likelihood protocol
_OPTION_LABEL = re.compile(r"^\s*\(([a-dA-D])\)\s*")


def likelihood_chat(prefix: Sequence[Message], q: Question) -> Chat:
    """context[:end_index] then the question text alone (no instructions, no option list)."""
    chat = [{"role": m.role, "content": m.content} for m in prefix]
    chat.append({"role": "user", "content": q.text})
    return chat


def memory_likelihood_chat(memory_text: str, q: Question,
                           header: str = "Relevant memory of the conversation with this user:") -> Chat:
    """The likelihood chat of a memory system: its memory as a system message, then the question text."""
    chat: Chat = []
    if memory_text.strip():
        chat.append({"role": "system", "content": f"{header}\n{memory_text}"})
    chat.append({"role": "user", "content": q.text})
    return chat


def option_continuations(q: Question) -> list[str]:
    """The four continuations in letter order: each option's text with its "(x) " label removed.

    Options labelled with the four distinct letters are put in label order; otherwise position decides."""
    found = [_OPTION_LABEL.match(o) for o in q.options]
    texts = [_OPTION_LABEL.sub("", o, count=1).strip() for o in q.options]
    letters = [m.group(1).lower() if m else None for m in found]
    if sorted(letters, key=str) == list(LETTERS):
        return [texts[letters.index(letter)] for letter in LETTERS]
    return texts


def choose(scores: Sequence[OptionScore], norm: str) -> str:
    """The letter whose score is best under `norm` (sum / tokens, sum / chars, or sum); first wins a tie."""
    if norm not in NORMS:
        raise ValueError(f"unknown norm {norm!r}; expected one of {', '.join(NORMS)}")

    def value(s: OptionScore) -> float:
        if norm == "sum":
            return s.logprob
        return s.logprob / max(s.tokens if norm == "token" else s.chars, 1)

    best = max(range(len(scores)), key=lambda i: (value(scores[i]), -i))
    return LETTERS[best]
