"""MemoryBank (Zhong et al., 2023; zhongwanjun/MemoryBank-SiliconFriend), re-implemented on the harness.

Memory
- Turn memories: one per (user, assistant) pair, dated by session (day k = the k-th session, see
  memorybank.turns; PersonaMem has no timestamps). Each has a strength S (starts at 1) and a last-recall
  day (starts at its own day). The persona system message is kept as a turn memory too.
- Per day (when a session ends): an LLM summary and an LLM personality analysis of that day's dialogue;
  the day summary is also a retrievable document, as in the original's newer loader.
- Overall: an LLM summary over the day summaries and an LLM personality over the day analyses,
  regenerated whenever days close.
- Retrieval: dense top-k (k=6) over turn memories and day summaries, by the question text; the recalled
  turn memories get S += 1 and their last recall set to today. The answer prompt holds the overall
  summary, the overall personality and the recalled memories grouped by day.
- Forgetting (Ebbinghaus): at each new day every turn memory is kept with probability
  R = exp(-t / (5 S)), t = days since its last recall. When all of a day's turns are gone its summary goes.

Followed: memory_bank/memory_retrieval/forget_memory.py (strength, last_recall_date, the keep draw
`random() > R` means forget, day summaries as documents, top-k 6, recall update) and
memory_bank/summarize_memory.py (the four summaries), utils/prompt_utils.py (what the answer prompt holds).

Deviations
- Formula: the original writes `math.exp(-t / 5*S)`, i.e. exp(-t·S/5), so a stronger memory is forgotten
  *faster*. We implement the intended exp(-t / (5·S)); `forgetting_formula="original"` reproduces the code.
- Each new day draws again for every memory, as the original does at every index load; these draws
  compound (never recalled, a memory survives n days with probability exp(-n(n+1)/10) at S=1).
  `forgetting_draw="conditional"` instead draws R(t)/R(t-1), so that survival to day t is exactly R(t).
- Forgetting runs once per new session; the original ran it whenever the index was rebuilt.
- Randomness comes from random.Random seeded by sha256(seed, context id), so runs repeat exactly.
- The answer uses the harness's standard prompt (no SiliconFriend persona); the open user message of an
  unfinished turn, if any, is shown as the latest message (the original prompt held the live dialogue).
- Prompts are our own wording; summaries see the newest lines of a day that fit `input_tokens`.
- Memory also changes when questions are answered (recall strengthens memories), so a run resumed in the
  middle of a context continues from a memory that did not see the skipped answers.
"""
from __future__ import annotations

import hashlib
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from comam_bench.api import Answer, Question, Resources
from comam_bench.budget import fit_lines, input_budget
from comam_bench.retrieval import EmbeddingCache, dense_scores, top_k
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory, recorded_args
from comam_bench.systems.memorybank.prompts import (dated_notes, day_personality_chat, day_summary_chat,
                                                     global_personality_chat, global_summary_chat)
from comam_bench.systems.memorybank.turns import SessionStart, Turn, TurnPairer

FORMULAS = ("intended", "original")
DRAWS = ("repeated", "conditional")


# --------------------------------------------------------------------------- forgetting math
def retention(t: float, strength: float, scale: float = 5.0, formula: str = "intended") -> float:
    """Ebbinghaus retention after t days at strength S: exp(-t / (scale·S)); "original": exp(-t / scale · S)."""
    if formula == "intended":
        return math.exp(-t / (scale * strength))
    if formula == "original":
        return math.exp(-t / scale * strength)  # the original's operator precedence, kept on purpose
    raise ValueError(f"forgetting_formula must be one of {FORMULAS}, got {formula!r}")


def keep_probability(t: float, strength: float, scale: float = 5.0, formula: str = "intended",
                     draw: str = "repeated") -> float:
    """Probability that a memory survives today's forgetting pass (t = days since its last recall)."""
    if t <= 0:
        return 1.0
    now = retention(t, strength, scale, formula)
    if draw == "repeated":
        return now
    if draw == "conditional":
        before = retention(t - 1, strength, scale, formula)
        return now / before if before > 0 else 0.0
    raise ValueError(f"forgetting_draw must be one of {DRAWS}, got {draw!r}")


def context_rng(seed: int, context_id: str) -> random.Random:
    """A generator that depends only on the run seed and the context (stable across processes)."""
    digest = hashlib.sha256(f"{seed}:{context_id}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class TurnMemory:
    """One remembered turn with its Ebbinghaus state."""

    id: int
    day: int
    text: str
    strength: float
    last_recall: int


# --------------------------------------------------------------------------- the system
class MemoryBank(AnswersFromMemory):
    name = "memorybank"
    answer_mutates_memory = True  # recall changes memory (strength / heat)
    description = "MemoryBank: dated turn memories, day/global summaries and personality, Ebbinghaus forgetting"

    def __init__(self, resources: Resources, top_k: int = 6, forgetting: bool = True,
                 forgetting_formula: str = "intended", forgetting_draw: str = "repeated",
                 forgetting_scale: float = 5.0, initial_strength: float = 1.0, summary_tokens: int = 128,
                 input_tokens: int = 3072, answer_tokens: int = DEFAULT_ANSWER_TOKENS, **kwargs: Any) -> None:
        super().__init__(resources, **kwargs)
        if forgetting_formula not in FORMULAS:
            raise ValueError(f"forgetting_formula must be one of {FORMULAS}, got {forgetting_formula!r}")
        if forgetting_draw not in DRAWS:
            raise ValueError(f"forgetting_draw must be one of {DRAWS}, got {forgetting_draw!r}")
        self.top_k = top_k
        self.forgetting = forgetting
        self.forgetting_formula = forgetting_formula
        self.forgetting_draw = forgetting_draw
        self.forgetting_scale = forgetting_scale
        self.initial_strength = initial_strength
        self.summary_tokens = summary_tokens
        self.input_tokens = input_tokens
        self.answer_tokens = answer_tokens
        self.cache = EmbeddingCache(lambda: self.resources.embedder)
        self.reset("")

    def config(self) -> dict[str, Any]:
        return recorded_args(self)

    def reset(self, context_id: str) -> None:
        self.pairer = TurnPairer()
        self.rng = context_rng(self.resources.seed, context_id)
        self.day = 0
        self.memories: list[TurnMemory] = []
        self.day_lines: dict[int, list[str]] = defaultdict(list)  # the open day's dialogue, for its summary
        self.closed: list[tuple[int, list[str]]] = []  # days ended but not yet summarised
        self.day_summaries: dict[int, str] = {}
        self.day_personalities: dict[int, str] = {}
        self.global_summary = ""
        self.overall_personality = ""
        self._next_id = 0
        self._query_vecs: dict[str, Any] = {}
        self.cache.clear()

    # ------------------------------------------------------------------ ingestion
    def ingest(self, messages: Sequence, start: int) -> None:
        for event in self.pairer.push_all(messages, start):
            if isinstance(event, SessionStart):
                self._new_day(event.day)
            else:
                self._remember(event)
        self._summarize_closed_days()

    def _remember(self, turn: Turn) -> None:
        self.memories.append(TurnMemory(self._next_id, turn.day, turn.render("; "), self.initial_strength, turn.day))
        self._next_id += 1
        self.day_lines[turn.day].append(turn.render("\n"))

    def _new_day(self, day: int) -> None:
        """Close the current day (its summaries are written at the end of ingest) and forget."""
        if day <= self.day:
            return
        lines = self.day_lines.pop(self.day, [])
        if lines:
            self.closed.append((self.day, lines))
        self.day = day
        if self.forgetting:
            self.forget(day)

    def forget(self, today: int) -> int:
        """One forgetting pass; returns how many turn memories were dropped."""
        kept = []
        for mem in self.memories:  # one draw per memory, in insertion order: the stream is reproducible
            p = keep_probability(today - mem.last_recall, mem.strength, self.forgetting_scale,
                                 self.forgetting_formula, self.forgetting_draw)
            if self.rng.random() < p:
                kept.append(mem)
        dropped = len(self.memories) - len(kept)
        self.memories = kept
        if dropped:
            self.resources.count("memorybank_forgotten", dropped)
        self._drop_orphan_summaries()
        return dropped

    def _drop_orphan_summaries(self) -> None:
        """A day whose turns were all forgotten loses its summary too (as in the original)."""
        live = {m.day for m in self.memories}
        for day in [d for d in self.day_summaries if d not in live]:
            del self.day_summaries[day]

    # ------------------------------------------------------------------ summaries
    def _generate(self, chats, agent: str) -> list[str]:
        gens = self.llm.generate(chats, max_new_tokens=self.summary_tokens, temperature=0.0,
                                 seed=self.resources.seed, agent=agent)
        return [g.text.strip() for g in gens]

    def _summarize_closed_days(self) -> None:
        """Day summary and personality for every closed day (one batch), then the overall pair."""
        if not self.closed:
            return
        budget = input_budget(self.llm, self.input_tokens, self.summary_tokens)
        dialogues = [fit_lines(self.llm, lines, budget, self.resources, "memorybank_day_input_truncated")
                     for _, lines in self.closed]
        chats = [day_summary_chat(d) for d in dialogues] + [day_personality_chat(d) for d in dialogues]
        texts = self._generate(chats, agent="day_summary")
        n = len(self.closed)
        for i, (day, _) in enumerate(self.closed):
            self._store(self.day_summaries, day, texts[i], "memorybank_empty_day_summary")
            self._store(self.day_personalities, day, texts[n + i], "memorybank_empty_day_personality")
        self.closed = []
        self._drop_orphan_summaries()
        self._update_overall()

    def _store(self, notes: dict[int, str], day: int, text: str, problem: str) -> None:
        if text:
            notes[day] = text
        else:  # an empty note is left out; the day's turns stay retrievable
            self.resources.count(problem)

    def _update_overall(self) -> None:
        """Rewrite the global summary and overall personality; an empty answer keeps the previous one."""
        budget = input_budget(self.llm, self.input_tokens, self.summary_tokens)
        jobs = []
        for notes, make, attr in ((self.day_summaries, global_summary_chat, "global_summary"),
                                  (self.day_personalities, global_personality_chat, "overall_personality")):
            lines = dated_notes(notes)
            if lines:
                text = fit_lines(self.llm, lines, budget, self.resources, "memorybank_overall_input_truncated")
                jobs.append((make(text), attr))
        if not jobs:
            return
        texts = self._generate([chat for chat, _ in jobs], agent="global_summary")
        for (_, attr), text in zip(jobs, texts):
            if text:
                setattr(self, attr, text)
            else:
                self.resources.count(f"memorybank_empty_{attr}")

    # ------------------------------------------------------------------ retrieval and answers
    def _documents(self) -> list[tuple[int, int, str, TurnMemory | None]]:
        """(day, order, text, memory or None for a day summary) for every retrievable document."""
        docs = [(m.day, m.id, m.text, m) for m in self.memories]
        docs += [(day, -1, f"Summary of the conversation on day {day}: {text}", None)
                 for day, text in sorted(self.day_summaries.items())]
        return docs

    def retrieve(self, query_vec) -> list[tuple[int, int, str, TurnMemory | None]]:
        """Top-k documents for a query vector; recalled turns get S += 1 and last recall = today."""
        docs = self._documents()
        if not docs or self.top_k <= 0:
            return []
        matrix = self.cache.vectors([text for _, _, text, _ in docs])
        picked = [docs[i] for i in top_k(dense_scores(query_vec, matrix), self.top_k)]
        for _, _, _, mem in picked:
            if mem is not None:
                mem.strength += 1
                mem.last_recall = self.day
        return sorted(picked, key=lambda d: (d[0], d[1]))

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        vecs = self.cache.vectors([q.text for q in questions])
        self._query_vecs = {q.id: vecs[i] for i, q in enumerate(questions)}
        self.cache.vectors([text for _, _, text, _ in self._documents()])  # one batch for new documents
        return super().answer(questions)

    def memory_for(self, question: Question) -> str:
        vec = self._query_vecs.get(question.id)
        if vec is None:
            vec = self.cache.vectors([question.text])[0]
        lines = []
        if self.global_summary:
            lines.append(f"Summary of past conversations with the user: {self.global_summary}")
        if self.overall_personality:
            lines.append(f"The user's personality and how to respond: {self.overall_personality}")
        recalled = self.retrieve(vec)
        if recalled:
            lines.append("Memories most relevant to this question:")
            lines += [f"[day {day}] {text}" for day, _, text, _ in recalled]
        open_turn = self.pairer.open_turn()
        if open_turn is not None:
            lines.append(f"Latest user message (day {open_turn.day}): {open_turn.query}")
        return "\n".join(lines)

    def memory_stats(self) -> dict[str, int]:
        texts = [m.text for m in self.memories] + list(self.day_summaries.values())
        texts += list(self.day_personalities.values())
        texts += [t for t in (self.global_summary, self.overall_personality) if t]
        return {"items": len(texts), "tokens": sum(self.llm.count_tokens(t) for t in texts)}
