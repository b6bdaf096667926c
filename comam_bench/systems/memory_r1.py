"""Memory-R1 (arXiv 2508.19828): a Memory Manager edits a fact bank; an Answer Agent distils what it retrieves.

Followed (the paper; no code was released, so this reads its method section and third-party summaries):
- Construction: an LLM extracts facts from the new dialogue; for each fact the related memories are
  retrieved (dense, top `manager_k`) and the Memory Manager chooses ADD / UPDATE (merged text) / DELETE /
  NOOP against them. The bank evolves in time order.
- Answering: the Answer Agent gets the `retrieve_k` (60) memories nearest to the question, first selects
  the relevant ones ("memory distillation") and then answers from them, in one generation.
- Both agents are RL policies ("manager", "answer") trained on the final-answer reward in two stages;
  fact extraction is a fixed LLM step, not a policy.

Deviations and choices:
- Dialogue arrives in chunks (see mem1.SessionChunker): a chunk closes at the next session or at
  `chunk_tokens`; the open session is processed once per question position, at answer time.
- Memory ids are shown as small integers (1..n) local to each prompt, so the model cannot invent real ids.
- `facts_per_call` facts share one manager call (1 = the paper's one decision per fact). Calls of one chunk
  are batched against the same bank snapshot and applied in order; an id that an earlier call of the batch
  deleted is "stale" (counted; UPDATE then adds its text, DELETE is dropped).
- PersonaMem has no timestamps: a memory carries the session it was last written in, and the Answer Agent
  sees its memories oldest first with that session number.
- `distill="separate"` is an option: the selection is its own call and the answer is the harness's standard
  prompt over the selected memories only (comparable answer step; both calls are the "answer" policy).

Robustness (counted in diagnostics, never raised): unparsable extraction -> the chunk's user messages are
the facts; manager output without one known operation -> every fact of the call is ADDed; unknown op or out-of-range id ->
skipped (UPDATE with a bad id adds its text); no <selected> block -> every retrieved memory is kept.

Trainability: pure steps shared by inference and training: `manager_prompt(facts, memories)` /
`apply_manager(bank, shown_ids, facts, output, session) -> Bank` (Bank is immutable, so a trainer can
branch one snapshot into a group of outcomes) and `answer_prompt(memories, q)` / `selected_from(...)`.
`record_steps=True` keeps every decision in `self.trace`; `temperature` enables sampling.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Sequence

from comam_bench.api import Answer, Chat, Message, MemorySystem, Question, Resources
from comam_bench.budget import fit_head, head_within
from comam_bench.protocol import memory_chat, memory_likelihood_chat, question_message
from comam_bench.retrieval import EmbeddingCache, dense_scores, top_k
from comam_bench.systems.base import answer_budget, recorded_args
from comam_bench.systems.llm_json import as_str_list, parse_json
from comam_bench.systems.mem1 import Chunk, PolicyStep, SessionChunker, render_turns

PROMPT_VERSION = "memory-r1-v1"

EXTRACT_SYSTEM = (
    "You read a conversation between a user and an assistant and write down what is worth remembering "
    "about the user for personalised answers later: events they shared, their preferences (likes and "
    "dislikes), changes of preference and the reasons they gave. One short sentence per fact, about "
    "\"the user\". Reply with a JSON list of strings only, for example "
    "[\"The user started rock climbing.\", \"The user stopped liking jazz because it felt repetitive.\"]. "
    "Reply [] if the conversation says nothing about the user."
)

MANAGER_SYSTEM = (
    "You are the Memory Manager of a personal assistant and keep a bank of memories about the user. "
    "For each new fact choose one operation against the existing memories:\n"
    "ADD: the fact is new; give its text.\n"
    "UPDATE: the fact changes or adds detail to an existing memory; give that memory's id and the merged "
    "text (when a preference changed, keep the old one, the new one and the reason).\n"
    "DELETE: an existing memory is now wrong; give its id.\n"
    "NOOP: the fact is already known.\n"
    "Reply with a JSON list only, one object per operation, for example "
    "[{\"op\": \"UPDATE\", \"id\": 2, \"text\": \"...\"}, {\"op\": \"ADD\", \"text\": \"...\"}, {\"op\": \"NOOP\"}]."
)

ANSWER_INSTRUCTIONS = (
    "First select the memories that help with the user's message below and list their numbers as "
    "<selected>1, 4</selected> (<selected></selected> if none helps). Then, using only the selected "
    "memories, reason briefly and answer as the message asks."
)

DISTILL_INSTRUCTIONS = (
    "Select the memories that help respond to the user's message below. Reply only with their numbers as "
    "<selected>1, 4</selected> (<selected></selected> if none helps)."
)

_OPS = {"ADD": "ADD", "UPDATE": "UPDATE", "DELETE": "DELETE", "REMOVE": "DELETE",
        "NOOP": "NOOP", "NONE": "NOOP", "NO_OP": "NOOP", "NOTHING": "NOOP"}
_INT = re.compile(r"\d+")
_SELECTED = re.compile(r"<selected>(.*?)(?:</selected>|$)", re.S)
_SPEAKER_LABEL = re.compile(r"^\s*\w[\w ]{0,24}:\s*")  # "User: ", "Patient: "


# --------------------------------------------------------------------------- the memory bank
@dataclass(frozen=True)
class MemoryItem:
    id: int
    text: str
    session: int  # the session it was last written in (PersonaMem's only clock)


@dataclass(frozen=True)
class Bank:
    """An immutable memory bank in insertion order; every edit returns a new bank."""

    items: tuple[MemoryItem, ...] = ()
    next_id: int = 0

    def __len__(self) -> int:
        return len(self.items)

    def get(self, memory_id: int) -> MemoryItem | None:
        return next((m for m in self.items if m.id == memory_id), None)

    def add(self, text: str, session: int) -> Bank:
        return Bank(self.items + (MemoryItem(self.next_id, text, session),), self.next_id + 1)

    def update(self, memory_id: int, text: str, session: int) -> Bank:
        items = tuple(replace(m, text=text, session=session) if m.id == memory_id else m for m in self.items)
        return Bank(items, self.next_id)

    def delete(self, memory_id: int) -> Bank:
        return Bank(tuple(m for m in self.items if m.id != memory_id), self.next_id)


@dataclass(frozen=True)
class Operation:
    """One manager operation as written: `index` is the number shown in the prompt (1-based), if any."""

    op: str
    index: int | None = None
    text: str = ""


def parse_operations(text: str) -> list[Operation] | None:
    """The operations in a manager output (a JSON list, one object, or {"operations"/"memory": [...]});
    None when no JSON is found. Field names are accepted loosely (op/event/operation, text/memory)."""
    value = parse_json(text)
    if isinstance(value, dict):
        inner = next((value[k] for k in ("operations", "memory", "memories", "ops") if k in value), None)
        value = inner if isinstance(inner, list) else [value]
    if not isinstance(value, list):
        return None
    ops = []
    for entry in value:
        if not isinstance(entry, dict):
            ops.append(Operation(str(entry)))  # not an operation: apply_operations counts it invalid
            continue
        op = entry.get("op") or entry.get("event") or entry.get("operation") or entry.get("action") or ""
        raw_id = entry.get("id", entry.get("memory_id"))
        found = _INT.search(str(raw_id)) if raw_id is not None and not isinstance(raw_id, bool) else None
        body = entry.get("text") or entry.get("memory") or entry.get("content") or ""
        ops.append(Operation(str(op).strip().upper(), int(found.group()) if found else None, str(body).strip()))
    return ops


def apply_operations(bank: Bank, shown_ids: Sequence[int], ops: Sequence[Operation],
                     session: int) -> tuple[Bank, list[str]]:
    """Apply operations in order; returns the new bank and the problems met (for diagnostics)."""
    problems: list[str] = []
    for op in ops:
        kind = _kind(op)
        if kind is None:
            problems.append("invalid_op")
            continue
        if kind == "NOOP":
            continue
        if kind in ("ADD", "UPDATE") and not op.text:
            problems.append("op_without_text")
            continue
        if kind == "ADD":
            bank = bank.add(op.text, session)
            continue
        target = shown_ids[op.index - 1] if op.index is not None and 1 <= op.index <= len(shown_ids) else None
        if target is None or bank.get(target) is None:
            problems.append("invalid_id" if target is None else "stale_id")
            if kind == "UPDATE":  # the text is still news: keep it rather than lose it
                bank = bank.add(op.text, session)
            continue
        bank = bank.delete(target) if kind == "DELETE" else bank.update(target, op.text, session)
    return bank, problems


def _kind(op: Operation) -> str | None:
    """The canonical operation name, or None for an unknown one."""
    return _OPS.get(op.op.replace(" ", "_"))


def parse_selection(text: str, n_shown: int) -> tuple[list[int] | None, int]:
    """Shown numbers (1-based, in range, deduplicated) inside <selected>; None when there is no such
    block. Also returns how many numbers were out of range."""
    match = _SELECTED.search(text)
    if match is None:
        return None, 0
    numbers = [int(x) for x in _INT.findall(match.group(1))]
    valid = list(dict.fromkeys(n for n in numbers if 1 <= n <= n_shown))
    return valid, sum(1 for n in numbers if not 1 <= n <= n_shown)


# --------------------------------------------------------------------------- the system
class MemoryR1(MemorySystem):
    """Memory Manager over an extracted-fact bank + an Answer Agent that distils retrieved memories."""

    name = "memory-r1"
    description = "Memory Manager (ADD/UPDATE/DELETE/NOOP on a fact bank) + Answer Agent distilling 60 retrieved memories"
    trainable = True
    open_ended = True  # its answer chat ends with protocol.question_message, the open-ended one where there are no options
    policies: ClassVar[tuple[str, ...]] = ("manager", "answer")

    def __init__(self, resources: Resources, chunk_tokens: int = 1024, max_facts: int = 12,
                 facts_per_call: int = 1, manager_k: int = 5, retrieve_k: int = 60, distill: str = "joint",
                 extract_tokens: int = 192, manager_tokens: int = 128, distill_tokens: int = 48,
                 answer_tokens: int = 128, temperature: float = 0.0, record_steps: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(resources, **kwargs)
        if distill not in ("joint", "separate"):
            raise ValueError(f"distill must be 'joint' or 'separate', got {distill!r}")
        self.chunk_tokens, self.max_facts = chunk_tokens, max_facts
        self.facts_per_call, self.manager_k = max(facts_per_call, 1), manager_k
        self.retrieve_k, self.distill = retrieve_k, distill
        self.extract_tokens, self.manager_tokens = extract_tokens, manager_tokens
        self.distill_tokens, self.answer_tokens = distill_tokens, answer_tokens
        self.temperature, self.record_steps = temperature, record_steps
        self.reset("")

    # ------------------------------------------------------------------ harness interface
    def reset(self, context_id: str) -> None:
        self.bank = Bank()
        self.chunker: SessionChunker | None = None  # built on first use: needs the LLM's tokenizer
        self.vectors = EmbeddingCache(lambda: self.resources.embedder)
        self.trace: list[PolicyStep] = []

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        self.build(self._chunker().add(messages))

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        pending = self._chunker().flush()
        if pending is not None:  # once per position: later questions here find nothing pending
            self.build([pending])
        shown = [self.retrieve(self.bank, q) for q in questions]
        if self.distill == "separate":
            picked: list[list[int] | None] = self._distill(questions, shown)
            chats = [memory_chat("\n".join(self._line(self.bank.get(i)) for i in ids), q)
                     for ids, q in zip(picked, questions)]
        else:
            chats = [self.answer_prompt([self._line(self.bank.get(i)) for i in ids], q)
                     for ids, q in zip(shown, questions)]
        gens = self._generate(chats, self.answer_tokens, "answer")
        if self.distill == "joint":  # selection and answer are one generation
            picked = [self.selected_from(ids, g.text) for ids, g in zip(shown, gens)]
        answers = []
        for q, ids, sel, chat, g in zip(questions, shown, picked, chats, gens):
            self._record("answer", chat, g.text, question=q.id)
            answers.append(Answer(g.text, chat, {"retrieved": list(ids), "selected": sel}))
        return answers

    def likelihood_answer(self, questions: Sequence[Question]) -> list[Answer]:
        """The Answer Agent selects first (its joint output, or the separate selection call); the options are
        then scored after the selected memories only, all retrieved ones when it selected nothing readable."""
        pending = self._chunker().flush()
        if pending is not None:
            self.build([pending])
        shown = [self.retrieve(self.bank, q) for q in questions]
        if self.distill == "separate":
            picked, texts = self._distill(questions, shown, with_texts=True)
        else:
            chats = [self.answer_prompt([self._line(self.bank.get(i)) for i in ids], q)
                     for ids, q in zip(shown, questions)]
            texts = [g.text for g in self._generate(chats, self.answer_tokens, "answer")]
            picked = [self.selected_from(ids, t) for ids, t in zip(shown, texts)]
        answers = []
        for q, ids, sel, text in zip(questions, shown, picked, texts):
            kept = list(ids) if sel is None else sel
            chat = memory_likelihood_chat("\n".join(self._line(self.bank.get(i)) for i in kept), q)
            answers.append(Answer(text, chat, {"retrieved": list(ids), "selected": sel}))
        return answers

    def memory_stats(self) -> dict[str, int]:
        return {"items": len(self.bank), "tokens": sum(self.llm.count_tokens(m.text) for m in self.bank.items)}

    def config(self) -> dict[str, Any]:
        return {**recorded_args(self), "prompt_version": PROMPT_VERSION}

    # ------------------------------------------------------------------ construction
    def build(self, chunks: Sequence[Chunk]) -> None:
        """Extract facts from every chunk (one batched call), then manage them chunk by chunk, in order."""
        if not chunks:
            return
        chats = [self.extract_prompt(render_turns(c.messages)) for c in chunks]
        gens = self._generate(chats, self.extract_tokens, "extract")
        for chunk, chat, g in zip(chunks, chats, gens):
            self._record("extract", chat, g.text, session=chunk.session)
            self.manage(self.facts_from(chunk, g.text), chunk.session)

    def extract_prompt(self, conversation: str) -> Chat:
        return [{"role": "system", "content": EXTRACT_SYSTEM},
                {"role": "user", "content": f"Conversation:\n{conversation}"}]

    def facts_from(self, chunk: Chunk, output: str) -> list[str]:
        """The extracted facts; unparsable output falls back to the chunk's user messages (counted)."""
        value = parse_json(output)
        if isinstance(value, dict):
            value = value.get("facts", next((v for v in value.values() if isinstance(v, list)), None))
        facts = as_str_list(value) if isinstance(value, list) else None
        if facts is None:
            self.resources.count("memory_r1_extract_unparsed")
            facts = [_SPEAKER_LABEL.sub("", m.content, count=1).strip() for m in chunk.messages if m.role == "user"]
            facts = [head_within(f, 64, self.llm.count_tokens) for f in facts if f]
        if len(facts) > self.max_facts:
            self.resources.count("memory_r1_facts_capped")
        return [f for f in facts[: self.max_facts] if f]

    def manage(self, facts: Sequence[str], session: int) -> None:
        """One manager decision per group of `facts_per_call` facts, batched on the current bank."""
        groups = [list(facts[i:i + self.facts_per_call]) for i in range(0, len(facts), self.facts_per_call)]
        if not groups:
            return
        shown = [self.related(self.bank, g) for g in groups]
        chats = [self.manager_prompt(g, [self.bank.get(i).text for i in ids]) for g, ids in zip(groups, shown)]
        gens = self._generate(chats, self.manager_tokens, "manager")
        for group, ids, chat, g in zip(groups, shown, chats, gens):
            self._record("manager", chat, g.text, session=session, shown_ids=list(ids))
            self.bank = self.apply_manager(self.bank, ids, group, g.text, session)

    def related(self, bank: Bank, facts: Sequence[str]) -> list[int]:
        """Ids of the memories nearest to any of the facts (top `manager_k` each), in bank order."""
        if not len(bank) or not facts:
            return []
        matrix = self.vectors.vectors([m.text for m in bank.items])
        picked: set[int] = set()
        for vec in self.vectors.vectors(list(facts)):
            picked.update(top_k(dense_scores(vec, matrix), self.manager_k))
        return [bank.items[i].id for i in sorted(picked)]

    # ------------------------------------------------------------------ policy "manager"
    def manager_prompt(self, facts: Sequence[str], memories: Sequence[str]) -> Chat:
        """The exact manager chat: existing memories numbered 1..n, then the new facts."""
        shown = "\n".join(f"{i}: {text}" for i, text in enumerate(memories, start=1)) or "(none yet)"
        new = "\n".join(f"- {f}" for f in facts)
        return [{"role": "system", "content": MANAGER_SYSTEM},
                {"role": "user", "content": f"Existing memories:\n{shown}\n\nNew facts:\n{new}"}]

    def apply_manager(self, bank: Bank, shown_ids: Sequence[int], facts: Sequence[str], output: str,
                      session: int) -> Bank:
        """The bank after one manager decision (a new Bank; `bank` is untouched). Output without a single
        recognisable operation adds every fact (an empty list is a valid "nothing to do"); problems are
        counted."""
        ops = parse_operations(output)
        if ops is None or (ops and not any(_kind(op) for op in ops)):
            self.resources.count("memory_r1_manager_unparsed")
            ops = [Operation("ADD", None, f) for f in facts]
        bank, problems = apply_operations(bank, shown_ids, ops, session)
        for problem in problems:
            self.resources.count(f"memory_r1_{problem}")
        return bank

    # ------------------------------------------------------------------ policy "answer"
    def retrieve(self, bank: Bank, question: Question) -> list[int]:
        """Ids of the `retrieve_k` memories nearest to the question that fit the answer prompt, oldest first."""
        if not len(bank):
            return []
        matrix = self.vectors.vectors([m.text for m in bank.items])
        ranked = [bank.items[i] for i in top_k(dense_scores(self.vectors.vectors([question.text])[0], matrix),
                                              self.retrieve_k)]
        overhead = self.llm.count_tokens(_numbered(["x"]) + ANSWER_INSTRUCTIONS) + 2 * len(ranked)  # "[i] " labels
        budget = answer_budget(self.llm, question, self.answer_tokens) - overhead
        lines, cut = fit_head(self.llm, [self._line(m) for m in ranked], max(budget, 0))
        if cut:
            self.resources.count("memory_truncated_to_window")
        kept = ranked[: len(lines)]
        return [m.id for m in sorted(kept, key=lambda m: (m.session, m.id))]

    def answer_prompt(self, memories: Sequence[str], question: Question) -> Chat:
        """Joint distill-and-answer chat: numbered memories and instructions, then PersonaMem's question message."""
        return [{"role": "system", "content": _numbered(memories) + "\n\n" + ANSWER_INSTRUCTIONS},
                {"role": "user", "content": question_message(question)}]

    def distill_prompt(self, memories: Sequence[str], question: Question) -> Chat:
        """Selection-only chat (distill="separate")."""
        user = f"User's message:\n{question.text}" + (f"\n\nCandidate responses:\n{question.options_raw}"
                                                       if question.options else "")
        return [{"role": "system", "content": _numbered(memories) + "\n\n" + DISTILL_INSTRUCTIONS},
                {"role": "user", "content": user}]

    def selected_from(self, shown_ids: Sequence[int], output: str) -> list[int] | None:
        """Bank ids the answer agent selected; None (counted) when it wrote no <selected> block."""
        numbers, out_of_range = parse_selection(output, len(shown_ids))
        if out_of_range:
            self.resources.count("memory_r1_selected_invalid_id", out_of_range)
        if numbers is None:
            self.resources.count("memory_r1_no_selection")
            return None
        return [shown_ids[n - 1] for n in numbers]

    def _distill(self, questions: Sequence[Question], shown: list[list[int]], with_texts: bool = False):
        """The separate selection call; no selection block keeps every retrieved memory.
        Returns the picked ids per question (and the selection outputs too, with `with_texts`)."""
        chats = [self.distill_prompt([self._line(self.bank.get(i)) for i in ids], q)
                 for ids, q in zip(shown, questions)]
        gens = self._generate(chats, self.distill_tokens, "answer")
        picked = []
        for q, ids, chat, g in zip(questions, shown, chats, gens):
            self._record("answer", chat, g.text, question=q.id, step="distill")
            selected = self.selected_from(ids, g.text)
            picked.append(list(ids) if selected is None else selected)
        return (picked, [g.text for g in gens]) if with_texts else picked

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _line(item: MemoryItem) -> str:
        return f"(session {item.session + 1}) {item.text}"

    def _generate(self, chats: list[Chat], max_new_tokens: int, agent: str):
        return self.llm.generate(chats, max_new_tokens=max_new_tokens, temperature=self.temperature,
                                 seed=self.resources.seed, agent=agent)

    def _record(self, policy: str, chat: Chat, output: str, **info: Any) -> None:
        if self.record_steps:
            self.trace.append(PolicyStep(policy, chat, output, info))

    def _chunker(self) -> SessionChunker:
        if self.chunker is None:
            room = self.llm.context_window - self.llm.count_tokens(EXTRACT_SYSTEM) - self.extract_tokens - 64
            if room < self.chunk_tokens:
                self.resources.count("memory_r1_chunk_limited_by_window")
            self.chunker = SessionChunker(min(self.chunk_tokens, room), self.llm.count_tokens)
        return self.chunker


def _numbered(memories: Sequence[str]) -> str:
    if not memories:
        return "Memories about this user: (none)"
    lines = "\n".join(f"[{i}] {text}" for i, text in enumerate(memories, start=1))
    return f"Memories about this user from earlier conversations, oldest first:\n{lines}"
