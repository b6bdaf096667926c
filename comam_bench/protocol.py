"""PersonaMem's evaluation protocols: how a question is asked, how the answer is read, how it is scored.

Two protocols. "discriminative" (the main one): the model sees the question with instructions and the
option list and must write a letter, which is extracted. "likelihood" (PersonaMem's generative setting,
lm-eval's multiple choice): the model sees the question alone and each option's text is scored as its
reply; the best normalised log-likelihood is the answer. Every system and every trainer scores answers
with these functions (the reward is the task's scorer); lm-eval interop imports them, never copies them.
"""
from __future__ import annotations

import re
from typing import Sequence

from comam_bench.api import LETTERS, Chat, Message, OptionScore, Question

PROTOCOL_VERSION = "personamem-discriminative-v1"
LIKELIHOOD_VERSION = "personamem-likelihood-v1"

PROTOCOLS = ("discriminative", "likelihood")
VERSIONS = {"discriminative": PROTOCOL_VERSION, "likelihood": LIKELIHOOD_VERSION}
# How an option's summed log-probability is normalised: per token (PersonaMem's "length-normalised",
# the headline), per character (lm-eval's acc_norm) or not at all (lm-eval's acc).
NORMS = ("token", "char", "sum")
HEADLINE_NORM = "token"
# The same three under lm-eval's metric names, as the exported tasks report them (`acc_token` is ours:
# lm-eval has no per-token metric of its own). Records, leaderboards and the docs name both.
LM_EVAL_METRICS = {"token": "acc_token", "char": "acc_norm", "sum": "acc"}
MEMORY_HEADER = "Relevant memory of the conversation with this user:"

INSTRUCTIONS = (
    "Find the most appropriate model response and give your final answer (a), (b), (c), or (d) "
    "after the special token <final_answer>."
)

_PAREN_LETTER = re.compile(r"\(([a-d])\)")
_BARE_LETTER = re.compile(r"\b([a-d])\b")


def question_message(q: Question) -> str:
    """The one user message PersonaMem appends after the context prefix (an open-ended question, one
    without options, gets the open-ended protocol's message instead)."""
    if not q.options:
        from comam_bench.protocols.open_ended import open_question_message

        return open_question_message(q)
    return q.text + "\n\n" + INSTRUCTIONS + "\n\n" + q.options_raw


def protocol_chat(prefix: Sequence[Message], q: Question) -> Chat:
    """context[:end_index] followed by the question message (the benchmark's exact messages)."""
    chat = [{"role": m.role, "content": m.content} for m in prefix]
    chat.append({"role": "user", "content": question_message(q)})
    return chat


def memory_chat(memory_text: str, q: Question, header: str = MEMORY_HEADER) -> Chat:
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


# --------------------------------------------------------------------------- the likelihood protocol
_LABEL = re.compile(r"^\s*\(([a-dA-D])\)\s*")


def likelihood_chat(prefix: Sequence[Message], q: Question) -> Chat:
    """context[:end_index] then one user message with the question text only (no instructions, no options)."""
    chat = [{"role": m.role, "content": m.content} for m in prefix]
    chat.append({"role": "user", "content": q.text})
    return chat


def memory_likelihood_chat(memory_text: str, q: Question, header: str = MEMORY_HEADER) -> Chat:
    """memory_chat's likelihood form: the memory as a system message (none when empty), then the question."""
    chat: Chat = []
    if memory_text.strip():
        chat.append({"role": "system", "content": f"{header}\n{memory_text}"})
    chat.append({"role": "user", "content": q.text})
    return chat


def as_likelihood_chat(chat: Chat, q: Question) -> Chat:
    """The likelihood form of a discriminative answer chat: its last user message, the question message,
    becomes the question text alone (so memory_chat -> memory_likelihood_chat, protocol_chat ->
    likelihood_chat). ValueError when the chat does not end with the question message."""
    message = question_message(q)
    last = chat[-1] if chat else {}
    if last.get("role") != "user" or message not in last.get("content", ""):
        raise ValueError(f"the answer chat for question {q.id!r} does not end with PersonaMem's question message, "
                         "so it has no likelihood form; build the chat with protocol.memory_likelihood_chat "
                         "or likelihood_chat in the system's likelihood_answer()")
    return [dict(m) for m in chat[:-1]] + [{"role": "user", "content": last["content"].replace(message, q.text)}]


def option_continuations(q: Question) -> list[str]:
    """The four continuations in letter order: each option's text with its "(x) " label removed.

    Options whose labels are the four distinct letters are put in label order; otherwise position decides."""
    labels = [_LABEL.match(o) for o in q.options]
    texts = [_LABEL.sub("", o, count=1).strip() for o in q.options]
    letters = [m.group(1).lower() if m else None for m in labels]
    if sorted(letters, key=str) == list(LETTERS):
        return [texts[letters.index(letter)] for letter in LETTERS]
    return texts


def normalised(score: OptionScore, norm: str) -> float:
    """An option's log-probability under a normalisation: per token, per character, or the sum."""
    if norm == "token":
        return score.logprob / max(score.tokens, 1)
    if norm == "char":
        return score.logprob / max(score.chars, 1)
    if norm == "sum":
        return score.logprob
    raise ValueError(f"unknown normalisation {norm!r}; one of {', '.join(NORMS)}")


def choose(scores: Sequence[OptionScore], norm: str) -> str:
    """The letter with the best normalised score; ties go to the earlier letter."""
    values = [normalised(s, norm) for s in scores]
    best = max(range(len(values)), key=lambda i: (values[i], -i))
    return LETTERS[best]


def resolve_protocol(name: str | None, task_spec: dict | None = None) -> str:
    """The protocol a run uses: the one asked for, else the task spec's `protocol:` (a name or a version
    string), else discriminative. ValueError naming the choices for anything else."""
    value = name if name is not None else (task_spec or {}).get("protocol") or "discriminative"
    by_version = {v: k for k, v in VERSIONS.items()}
    value = by_version.get(str(value), str(value))
    if value not in PROTOCOLS:
        raise ValueError(f"unknown protocol {value!r}; choose one of {', '.join(PROTOCOLS)} "
                         f"(a task spec may also give a version: {', '.join(VERSIONS.values())})")
    return value


def protocol_record(name: str) -> dict:
    """What run.json says about its protocol (a record without the key is discriminative)."""
    return {"name": name, "version": VERSIONS[name], "headline_norm": HEADLINE_NORM if name == "likelihood" else None}
