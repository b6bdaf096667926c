"""RAG over the conversation history: CoMAM's Table 1 baseline (all-MiniLM-L6-v2 over 2,048-token chunks,
top-k chunks as context) and its variants.

Units, the things indexed and retrieved (`unit=`):
- "tokens": greedy chunks of `chunk_tokens` LLM tokens over the rendered messages (one "role: content"
  line per message). Chunks break between messages; a message longer than a chunk is split at spaces.
  Chunks run across session boundaries: the history is one text, as in the paper's setting.
- "turn": a user message together with the assistant replies that follow it (a pair, because a user
  message alone often lacks what it answers and the reply alone lacks the user's words). A system
  message (the persona at a session start) is a unit of its own, and so is an assistant message with no
  user message before it.
- "session": everything from one "Current user persona" system message to the next.

Memory grows incrementally: finished units never change; the open last unit grows with each message and
stays retrievable. Embeddings are cached by text (a unit is re-embedded only when its text changed), and
the BM25 index is rebuilt lazily, only when a unit changed since the last question.

Retrieval (`retriever=`): "dense" (embedder cosine), "bm25" (bm25s; units sharing no query term are not
retrieved), or "hybrid" (reciprocal-rank fusion of both, `rrf_k`=60). The query is the question text;
`query="question+options"` adds the options (off by default: the options are written to include
distractors drawn from the user's history, and a deployed memory sees only the user's message).

Prompt: at most `top_k` units, taken in rank order while they fit the answer budget; the first one that
does not fit is clipped to the tokens left. They are shown in chronological order, each under a
"[session N]" label, because preference questions depend on which statement came last.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from comam_bench.api import Answer, Message, Question, Resources
from comam_bench.budget import Packer, head_within, pack
from comam_bench.retrieval import BM25Index, EmbeddingCache, dense_scores, rrf, top_k
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory, answer_budget, recorded_args

UNITS = ("tokens", "turn", "session")
RETRIEVERS = ("dense", "bm25", "hybrid")
QUERIES = ("question", "question+options")
DEFAULT_TOP_K = {"tokens": 4, "turn": 32, "session": 2}
HEADER_RESERVE = 16  # tokens for memory_chat's header line above the memory
MIN_CLIP = 32  # a clipped unit shorter than this is not worth showing


def is_session_start(message: Message) -> bool:
    """PersonaMem starts every session with a system message "Current user persona: ..."."""
    return message.role == "system" and str(message.content).lstrip().lower().startswith("current user persona")


@dataclass
class Unit:
    """One retrievable unit: its lines, their tokens, and where it lies in the history."""

    opened_by: str  # role of its first message (turn units join replies to a user message)
    start: int  # index of its first message in the context
    first_session: int
    lines: list[str] = field(default_factory=list)
    tokens: int = 0  # sum over lines of count(line) + 1
    end: int = 0  # one past its last message
    last_session: int = 0

    def text(self) -> str:
        return "\n".join(self.lines)

    def label(self) -> str:
        if self.first_session == self.last_session:
            return f"[session {self.first_session}]"
        return f"[sessions {self.first_session}-{self.last_session}]"


class RAG(AnswersFromMemory):
    name = "rag"
    description = "top-k retrieved history units (default: dense embeddings over 2,048-token chunks, as in CoMAM)"

    def __init__(self, resources: Resources, unit: str = "tokens", chunk_tokens: int = 2048,
                 retriever: str = "dense", top_k: int | None = None, rrf_k: int = 60, query: str = "question",
                 piece_tokens: int | None = None, answer_tokens: int = DEFAULT_ANSWER_TOKENS, **kwargs: Any) -> None:
        """`top_k=None` takes DEFAULT_TOP_K for the unit. `piece_tokens`, when set, embeds each unit as pieces
        of about that many tokens and scores it by its best piece (an embedder such as all-MiniLM-L6-v2 reads
        only its first 256 word pieces, so a 2,048-token chunk is otherwise judged by its opening lines)."""
        super().__init__(resources, **kwargs)
        choices = ((unit, UNITS, "unit"), (retriever, RETRIEVERS, "retriever"), (query, QUERIES, "query"))
        for value, allowed, what in choices:
            if value not in allowed:
                raise ValueError(f"rag: {what} must be one of {allowed}, got {value!r}")
        self.unit, self.retriever, self.query = unit, retriever, query
        self.chunk_tokens = chunk_tokens
        self.top_k = top_k if top_k is not None else DEFAULT_TOP_K[unit]
        self.rrf_k = rrf_k
        self.piece_tokens = piece_tokens
        if self.piece_tokens is not None and self.piece_tokens < 2:
            raise ValueError(f"rag: piece_tokens must be at least 2, got {piece_tokens}")
        self.answer_tokens = answer_tokens
        self.uses_dense = retriever in ("dense", "hybrid")
        self.uses_bm25 = retriever in ("bm25", "hybrid")
        self.cache = EmbeddingCache(lambda: self.resources.embedder)
        self.reset("")

    # ------------------------------------------------------------------ memory building
    def reset(self, context_id: str) -> None:
        self.units: list[Unit] = []
        self.seen = 0  # messages ingested
        self.session = 0  # sessions started so far (the first is session 1)
        self.packer = Packer(self.chunk_tokens, self._count) if self.unit == "tokens" else None
        self.bm25 = BM25Index() if self.uses_bm25 else None
        self.cache.clear()
        self._pieces: list[list[str]] = []  # per unit: the texts embedded for it
        self._matrix = np.zeros((0, 0), dtype=np.float32)
        self._offsets = np.zeros(0, dtype=np.int64)  # first matrix row of each unit
        self._dirty: set[int] = set()  # units changed since the last refresh
        self._picked: dict[str, list[list[int]]] = {}

    def _count(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        if start != self.seen:
            self.resources.count("rag_ingest_gap")
        for message in messages:
            self._add(message)
            self.seen += 1

    def _add(self, message: Message) -> None:
        role, content = getattr(message, "role", None), getattr(message, "content", None)
        if not isinstance(role, str) or not isinstance(content, str):
            self.resources.count("rag_bad_message")
            role, content = str(role or "unknown"), "" if content is None else str(content)
            message = Message(role, content)
        starts = is_session_start(message)
        self.session += int(starts)
        line = f"{role}: {content}"  # the form of base.render_messages
        if self.packer is not None:
            for i, piece, n in self.packer.add(line):
                self._place(i, piece, n, role)
        else:
            i = len(self.units) - 1 if self._joins_open_unit(role, starts) else len(self.units)
            self._place(i, line, self._count(line) + 1, role)

    def _joins_open_unit(self, role: str, session_start: bool) -> bool:
        """Turn and session units: does this message extend the open unit rather than open a new one?"""
        if not self.units:
            return False
        if self.unit == "session":
            return not session_start
        return role == "assistant" and self.units[-1].opened_by == "user"

    def _place(self, i: int, text: str, tokens: int, role: str) -> None:
        """Append a line (or piece of one) to unit i, opening it when i is new."""
        if i == len(self.units):
            self.units.append(Unit(role, self.seen, self.session))
        unit = self.units[i]
        unit.lines.append(text)
        unit.tokens += tokens
        unit.end, unit.last_session = self.seen + 1, self.session
        self._dirty.add(i)

    def memory_stats(self) -> dict[str, int]:
        return {"items": len(self.units), "tokens": sum(u.tokens for u in self.units)}

    def config(self) -> dict[str, Any]:
        return recorded_args(self)

    # ------------------------------------------------------------------ retrieval
    def _query_text(self, q: Question) -> str:
        return q.text + "\n" + q.options_raw if self.query == "question+options" else q.text

    def _refresh(self, queries: list[str]) -> None:
        """Bring the indexes up to date with changed units; embed new texts and the queries in one batch."""
        dirty, self._dirty = sorted(self._dirty), set()
        for i in dirty:
            if self.bm25 is not None:
                self.bm25.set(i, self.units[i].text())
            if self.uses_dense:
                pieces = self._embed_texts(self.units[i])
                if i == len(self._pieces):
                    self._pieces.append(pieces)
                else:
                    self._pieces[i] = pieces
        if not self.uses_dense:
            return
        if not dirty:
            self.cache.vectors(queries)
            return
        flat = [p for pieces in self._pieces for p in pieces]
        self._matrix = self.cache.vectors(flat + queries)[: len(flat)]
        self._offsets = np.cumsum([0] + [len(p) for p in self._pieces[:-1]]).astype(np.int64)

    def _embed_texts(self, unit: Unit) -> list[str]:
        """What is embedded for a unit: its text, or its pieces when piece_tokens is set."""
        if self.piece_tokens is None:
            return [unit.text()]
        return pack(unit.lines, self.piece_tokens, self._count) or [""]

    def rank(self, q: Question) -> list[int]:
        """Unit indices, best first, under the configured retriever."""
        if not self.units:
            return []
        query = self._query_text(q)
        if self._dirty:  # called outside answer(): index what arrived since
            self._refresh([query])
        rankings = []
        if self.uses_dense:
            scores = dense_scores(self.cache.vectors([query])[0], self._matrix)  # cached by _refresh
            rankings.append(top_k(np.maximum.reduceat(scores, self._offsets)))  # a unit scores as its best piece
        if self.bm25 is not None:
            scores = self.bm25.scores(query)
            matching = [i for i in top_k(scores) if scores[i] > 0]
            if not matching:
                self.resources.count("rag_bm25_no_match")
            rankings.append(matching)
        return rankings[0] if len(rankings) == 1 else rrf(rankings, self.rrf_k)

    def _fit(self, ranking: list[int], budget: int) -> list[tuple[int, str]]:
        """Units in rank order while they fit `budget`; the first that does not is clipped, then stop."""
        kept: list[tuple[int, str]] = []
        used = 0
        for i in ranking[: self.top_k]:
            unit = self.units[i]
            overhead = self._count(unit.label()) + 2  # label line and the blank line between units
            if used + overhead + unit.tokens <= budget:
                kept.append((i, unit.text()))
                used += overhead + unit.tokens
                continue
            left = budget - used - overhead
            if left >= MIN_CLIP:
                kept.append((i, head_within(unit.text(), left, self._count)))
                self.resources.count("rag_unit_clipped")
            break
        return kept

    def memory_for(self, question: Question) -> str:
        budget = answer_budget(self.llm, question, self.answer_tokens) - HEADER_RESERVE
        kept = sorted(self._fit(self.rank(question), budget))  # chronological: unit order is history order
        self._picked[question.id] = [[self.units[i].start, self.units[i].end] for i, _ in kept]
        return "\n\n".join(f"{self.units[i].label()}\n{text}" for i, text in kept)

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        """Standard answer prompt; Answer.info["retrieved"] lists the [start, end) message range of each unit shown."""
        self._refresh([self._query_text(q) for q in questions] if self.units else [])
        answers = super().answer(questions)
        for q, a in zip(questions, answers):
            a.info["retrieved"] = self._picked.pop(q.id, [])
        return answers
