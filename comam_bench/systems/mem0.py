"""Mem0, classic algorithm (mem0ai/mem0, `Memory._add_to_vector_store` before the graph/v1.1 variants).

Per unit of conversation the LLM extracts atomic facts as `{"facts": [...]}`; every fact fetches its
`search_k` (5) most similar stored memories by cosine; the pooled, de-duplicated memories are shown to
the LLM under small integer ids ("0", "1", ...) next to the new facts, and it answers
`{"memory": [{"id", "text", "event": ADD|UPDATE|DELETE|NONE, "old_memory"}]}`; the ids are mapped back
to real ones, so the model cannot address a memory it was not shown. At question time the question
is the query for a dense top-`retrieve_k` search; the hits, best first, are the memory text under the
shared answer prompt.

Followed from the source: one extraction call per `add()` over the rendered messages; top-5 search
per fact; pooling and de-duplication by id; integer-id mapping; one update call per `add()`; empty
`text` entries skipped; an UPDATE/DELETE that names an id outside the mapping does nothing there
(a KeyError swallowed per action); bad update JSON changes nothing; search ranks by cosine only.

Decisions and deviations (PersonaMem has no timestamps, and a 135M model rarely writes valid JSON):
- Unit = one `add()` call: `unit="exchange"` (default; mem0's own LoCoMo evaluation adds messages in
  pairs) groups a user message with the assistant replies that follow it in the same ingest call;
  `unit="message"` extracts from each user message alone (assistant messages are then not read).
  System messages mark session starts (time = session order) and are read only with
  `include_system=True`, as their own unit. Extraction is batched over all units of an ingest call
  (it does not look at memory); updates run unit by unit, since each one sees the store left by the last.
- Unparseable fact JSON: the source stores nothing; here `extraction_fallback="message"` (default)
  stores the unit's user messages as the facts (they still go through the update step), "none"
  follows the source. A valid `{"facts": []}` is respected as "nothing to remember".
- Unparseable update JSON: the source changes nothing; `update_fallback="add"` (default) adds every
  new fact, "none" follows the source.
- UPDATE with an unknown or already deleted id: counted, and its text is ADDed (the information is
  kept; the source drops it). DELETE with an unknown id: counted, ignored (as the source). DELETE
  needs no text (the source skipped it when text was empty).
- An ADD whose text equals a stored memory is skipped and counted (the source would store a copy).
- Facts and ADD/UPDATE texts that repeat a prompt example verbatim ("Loves cheese pizza") are
  dropped and counted: small models copy the few-shot examples (seen with SmolLM2-135M).
- The reply is searched for the first object with the wanted key (models echo the prompt's fact
  list first); a bare list counts as the `facts` list, never as `memory` (echoed memories). Facts
  that are all placeholders ("...") and a `memory` list in which no entry names a known event are
  treated as unparseable, so the fallbacks apply (SmolLM2-135M mostly copies the memories without
  events; read literally, mem0 would then store almost nothing).
- Prompts are our own wording of the same instructions, shorter for small models; the contradiction
  example keeps the new fact (DELETE old + ADD new).
- Each memory remembers the session it was last written in; `show_session` prints it in the answer
  memory, standing in for mem0's created/updated timestamps.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from comam_bench.api import Chat, Message, Question, Resources
from comam_bench.budget import fit_head
from comam_bench.retrieval import EmbeddingCache, dense_scores, top_k
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory, answer_budget, recorded_args
from comam_bench.systems.llm_json import as_str_list, parse_json_object

PROMPT_VERSION = "mem0-classic-v1"

EXTRACT_PROMPT = """You organise personal information about a user. Read the conversation and list the facts it reveals about the user: likes and dislikes (and changes of mind, with the reason when one is given), personal details, plans, habits, health, work and favourite things. Write one short, self-contained fact per item. Skip greetings, small talk and general knowledge. If there is nothing to remember, return an empty list.

Examples:
Input: User: Hi, how are you today?
Output: {"facts": []}
Input: User: I used to love jogging, but since my knee injury I prefer swimming.
Output: {"facts": ["Used to love jogging", "Prefers swimming since a knee injury"]}
Input: User: My name is Ana and I teach chemistry.
Assistant: Nice to meet you, Ana!
Output: {"facts": ["Name is Ana", "Teaches chemistry"]}

Answer with JSON only, in the form {"facts": ["...", "..."]}."""

UPDATE_PROMPT = """You manage a memory of facts about a user. Compare the new facts with the existing memories and choose one operation for each:
- ADD: the fact is new. Add it with a new id.
- UPDATE: the fact says more about an existing memory, or changes it. Rewrite that memory and keep its id.
- DELETE: the fact contradicts an existing memory, which is no longer true. Delete that memory by its id.
- NONE: the memory already says this. No change.
For UPDATE, DELETE and NONE use only the ids listed under existing memories.

Example:
Existing memories: [{{"id": "0", "text": "Loves cheese pizza"}}, {{"id": "1", "text": "Works as a nurse"}}]
New facts: ["Dislikes cheese pizza now", "Works night shifts as a nurse", "Has a dog named Rex"]
Output: {{"memory": [{{"id": "0", "text": "Loves cheese pizza", "event": "DELETE"}}, {{"id": "1", "text": "Works night shifts as a nurse", "event": "UPDATE", "old_memory": "Works as a nurse"}}, {{"id": "2", "text": "Dislikes cheese pizza now", "event": "ADD"}}, {{"id": "3", "text": "Has a dog named Rex", "event": "ADD"}}]}}

Existing memories: {memories}
New facts: {facts}
Answer with JSON only, in the form {{"memory": [{{"id": "...", "text": "...", "event": "...", "old_memory": "..."}}]}}."""

UNITS = ("exchange", "message")
EVENTS = ("ADD", "UPDATE", "DELETE", "NONE", "NOOP", "NO_CHANGE")

# Texts of the prompts' few-shot examples: a small model often copies them as if they were facts.
EXAMPLE_TEXTS = frozenset(t.casefold() for t in (
    "Used to love jogging", "Prefers swimming since a knee injury", "Name is Ana", "Teaches chemistry",
    "Loves cheese pizza", "Works as a nurse", "Dislikes cheese pizza now", "Works night shifts as a nurse",
    "Has a dog named Rex"))


@dataclass
class MemoryItem:
    """One stored memory: a fact text, its embedding, and when (session) it was written."""

    id: int
    text: str
    vec: np.ndarray
    created: int
    updated: int


@dataclass
class Unit:
    """The messages of one `add()` call and the session they belong to."""

    messages: list[Message]
    session: int

    def text(self, clip_chars: int) -> str:
        return "\n".join(_clip(_speaker_line(m), clip_chars) for m in self.messages)

    def user_contents(self) -> list[str]:
        return [m.content.strip() for m in self.messages if m.role == "user" and m.content.strip()]


def is_session_start(message: Message) -> bool:
    """PersonaMem opens every session with a "Current user persona: ..." system message."""
    return message.role == "system" and message.content.lstrip().startswith("Current user persona")


def _speaker_line(m: Message) -> str:
    # PersonaMem contents already carry "User: " / "Assistant: " prefixes; system messages do not
    return f"System: {m.content}" if m.role == "system" else m.content


def _clip(text: str, clip_chars: int) -> str:
    return text if len(text) <= clip_chars else text[:clip_chars] + " ..."


class Mem0(AnswersFromMemory):
    name = "mem0"
    description = "Mem0 (classic): LLM-extracted facts, ADD/UPDATE/DELETE/NONE against 5 similar memories, dense top-k"

    def __init__(self, resources: Resources, unit: str = "exchange", include_system: bool = False,
                 search_k: int = 5, retrieve_k: int = 10, extract_tokens: int = 96, update_tokens: int = 160,
                 answer_tokens: int = DEFAULT_ANSWER_TOKENS, extraction_fallback: str = "message",
                 update_fallback: str = "add", clip_chars: int = 2000, show_session: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(resources, **kwargs)
        if unit not in UNITS:
            raise ValueError(f"mem0: unit must be one of {UNITS}, got {unit!r}")
        if extraction_fallback not in ("message", "none") or update_fallback not in ("add", "none"):
            raise ValueError("mem0: extraction_fallback is 'message'|'none'; update_fallback is 'add'|'none'")
        self.unit = unit
        self.include_system = include_system
        self.search_k = search_k
        self.retrieve_k = retrieve_k
        self.extract_tokens = extract_tokens
        self.update_tokens = update_tokens
        self.answer_tokens = answer_tokens
        self.extraction_fallback = extraction_fallback
        self.update_fallback = update_fallback
        self.clip_chars = clip_chars
        self.show_session = show_session
        self.vectors = EmbeddingCache(lambda: self.resources.embedder)
        self.reset("")

    # ------------------------------------------------------------------ harness interface
    def reset(self, context_id: str) -> None:
        self.store: dict[int, MemoryItem] = {}
        self.next_id = 0
        self.session = 0
        self.vectors.clear()

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        """Extract facts for every unit at once, then reconcile unit by unit against the store."""
        units = self.split_units(messages)
        if not units:
            return
        facts_per_unit = self.extract(units)
        self.embed([f for facts in facts_per_unit for f in facts])  # one batch; cached for search/store
        for unit, facts in zip(units, facts_per_unit):
            if facts:
                self.reconcile(facts, unit.session)

    def memory_for(self, question: Question) -> str:
        hits = self.search(question.text, self.retrieve_k)
        lines = [self.render(item) for item in hits]
        budget = max(answer_budget(self.llm, question, self.answer_tokens), 0)
        kept, truncated = fit_head(self.llm, lines, budget)
        if truncated:
            self.resources.count("mem0_memory_truncated")
        return "\n".join(kept)

    def memory_stats(self) -> dict[str, int]:
        return {"items": len(self.store), "tokens": sum(self.llm.count_tokens(m.text) for m in self.store.values())}

    def config(self) -> dict[str, Any]:
        return {**recorded_args(self), "prompt_version": PROMPT_VERSION}

    # ------------------------------------------------------------------ units and extraction
    def split_units(self, messages: Sequence[Message]) -> list[Unit]:
        """Group new messages into `add()` units, tracking the session counter."""
        units: list[Unit] = []
        current: Unit | None = None
        for m in messages:
            if m.role == "system":
                if is_session_start(m):
                    self.session += 1
                current = None
                if self.include_system:
                    units.append(Unit([m], self.session))
            elif m.role == "user" or self.unit == "message":
                current = None
                if m.role == "user":
                    current = Unit([m], self.session)
                    units.append(current)
            elif current is not None:  # an assistant reply joins the exchange its user message opened
                current.messages.append(m)
            else:  # a reply whose user message came in an earlier ingest call
                current = Unit([m], self.session)
                units.append(current)
        return units

    def extract(self, units: Sequence[Unit]) -> list[list[str]]:
        """One batched generate() over all units; a unit whose JSON fails falls back per `extraction_fallback`."""
        chats = [[{"role": "system", "content": EXTRACT_PROMPT},
                  {"role": "user", "content": "Input:\n" + u.text(self.clip_chars)}] for u in units]
        gens = self.llm.generate(chats, max_new_tokens=self.extract_tokens, temperature=0.0,
                                 seed=self.resources.seed, agent="mem0_extract")
        out = []
        for unit, gen in zip(units, gens):
            facts = self.parse_facts(gen.text)
            if facts is None:
                self.resources.count("mem0_bad_facts_json")
                facts = unit.user_contents() if self.extraction_fallback == "message" else []
            out.append(list(dict.fromkeys(f for f in facts if not self.copied_example(f))))  # no repeats
        return out

    @staticmethod
    def parse_facts(text: str) -> list[str] | None:
        """Facts from an extraction reply; None when the reply holds no usable `facts` list."""
        obj = parse_json_object(text, "facts", bare_list=True)
        if obj is None:
            return None
        facts = as_str_list(obj["facts"])
        # ["...", "..."] (the format's placeholders copied) is no answer; a real [] is
        return facts if facts or obj["facts"] == [] else None

    def copied_example(self, text: str) -> bool:
        """True (and counted) for a text copied from a prompt example rather than from the conversation."""
        if text.strip().casefold() in EXAMPLE_TEXTS:
            self.resources.count("mem0_example_copied")
            return True
        return False

    # ------------------------------------------------------------------ reconciliation
    def reconcile(self, facts: list[str], session: int) -> None:
        """Show the facts' nearest memories under integer ids; apply the LLM's events to the store."""
        pool = self.candidate_pool(facts)
        mapping = {str(i): item.id for i, item in enumerate(pool)}
        chat = self.update_chat(pool, facts)
        gen = self.llm.generate([chat], max_new_tokens=self.update_tokens, temperature=0.0,
                                seed=self.resources.seed, agent="mem0_update")[0]
        actions = self.parse_actions(gen.text)
        if actions is None:
            self.resources.count("mem0_bad_update_json")
            if self.update_fallback == "add":
                for fact in facts:
                    self.add(fact, session)
            return
        for action in actions:
            self.apply(action, mapping, session)

    def candidate_pool(self, facts: list[str]) -> list[MemoryItem]:
        """The `search_k` most similar memories of every fact, pooled and de-duplicated in order."""
        pool: dict[int, MemoryItem] = {}
        for fact in facts:
            for item in self.search(fact, self.search_k):
                pool.setdefault(item.id, item)
        return list(pool.values())

    @staticmethod
    def update_chat(pool: Sequence[MemoryItem], facts: Sequence[str]) -> Chat:
        shown = [{"id": str(i), "text": item.text} for i, item in enumerate(pool)]
        memories = json.dumps(shown, ensure_ascii=False) if shown else "none yet (add every new fact)"
        prompt = UPDATE_PROMPT.format(memories=memories, facts=json.dumps(list(facts), ensure_ascii=False))
        return [{"role": "user", "content": prompt}]

    @staticmethod
    def parse_actions(text: str) -> list[dict] | None:
        """The event dicts of an update reply; None when unusable ({"memory": []} is a valid "no change").

        A bare list is not accepted: small models echo the shown memories as a list before answering.
        A list in which no entry names a known event is no answer either (models copy the memories).
        """
        obj = parse_json_object(text, "memory")
        if obj is None or not isinstance(obj["memory"], list):
            return None
        actions = [a for a in obj["memory"] if isinstance(a, dict)]
        if not obj["memory"]:
            return []
        known = any(str(a.get("event", "")).strip().upper() in EVENTS for a in actions)
        return actions if known else None

    def apply(self, action: dict, mapping: dict[str, int], session: int) -> None:
        """Apply one event; ids go through `mapping`; problems are counted, never raised."""
        event = str(action.get("event", "")).strip().upper()
        text = str(action.get("text") or "").strip()
        real = mapping.get(str(action.get("id", "")).strip())
        known = real is not None and real in self.store
        if event in ("NONE", "NOOP", "NO_CHANGE"):
            return
        if event not in EVENTS:
            self.resources.count("mem0_bad_event")
            return
        if event == "DELETE":
            if known:
                del self.store[real]
            else:
                self.resources.count("mem0_unknown_id")
            return
        if not text:
            self.resources.count("mem0_empty_text")
            return
        if self.copied_example(text):
            return
        if event == "UPDATE" and known:
            item = self.store[real]
            item.text, item.vec, item.updated = text, self.embed([text])[0], session
            return
        if event == "UPDATE":
            self.resources.count("mem0_unknown_id")  # keep the information: store it as new
        self.add(text, session)

    def add(self, text: str, session: int) -> int | None:
        """Store a new memory unless an identical text is stored already."""
        if any(item.text == text for item in self.store.values()):
            self.resources.count("mem0_duplicate_add")
            return None
        item = MemoryItem(self.next_id, text, self.embed([text])[0], session, session)
        self.store[item.id] = item
        self.next_id += 1
        return item.id

    # ------------------------------------------------------------------ retrieval
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, cached by text (facts are embedded once, at extraction)."""
        return self.vectors.vectors(list(texts))

    def search(self, query: str, k: int) -> list[MemoryItem]:
        """Top-k stored memories by cosine to the query, best first (ties: older first)."""
        if not self.store or k <= 0:
            return []
        items = list(self.store.values())
        scores = dense_scores(self.embed([query])[0], np.stack([m.vec for m in items]))
        return [items[i] for i in top_k(scores, k)]

    def render(self, item: MemoryItem) -> str:
        return f"- [session {item.updated}] {item.text}" if self.show_session else f"- {item.text}"
