"""A-Mem, agentic memory (Xu et al. 2025; WujiangXu/A-mem `memory_layer.py`, agiresearch/A-mem
`agentic_memory/memory_system.py`).

One note per message: the LLM writes keywords, a one-line context and tags (JSON). Before a note is
stored, its `evolve_k` (5) nearest notes by cosine go through an evolution step: the LLM decides
`should_evolve` and actions — `strengthen` (link the new note to neighbours, retag it) and
`update_neighbor` (rewrite the neighbours' context and tags, in the order shown). At question time
notes are ranked by alpha * BM25 + (1 - alpha) * cosine and every hit brings its linked notes along.

Followed from the source: the analysis fields and their fallback (`keywords=[]`, `context="General"`,
`tags=[]`) when the JSON fails; neighbours found with the new note's content as the query over the
notes' indexed text ("content / context / keywords / tags"); the evolution JSON fields
(`should_evolve`, `actions`, `suggested_connections`, `tags_to_update`, `new_context_neighborhood`,
`new_tags_neighborhood`); links point from the new note to older ones; a failed evolution reply
changes nothing; the retriever keeps the text a note had when it was indexed, and every
`evo_threshold` (100) evolutions all notes are re-indexed ("consolidate_memories"); hybrid scoring
with BM25 min-max normalised (+1e-6) and raw cosine, alpha = 0.5 (`HybridRetriever`); retrieval
adds up to k linked notes after their hit (`find_related_memories_raw`); `retrieve_k` = 10 (the
LoCoMo script's default); optional LLM keyword queries (`query_keywords`, as the LoCoMo script does).

Decisions and deviations:
- The published evaluation actually ranks by cosine only (its `HybridRetriever` is unused);
  `alpha=0` reproduces that, the default 0.5 follows the paper's description.
- Neighbours are shown under their position 0..n-1 and `suggested_connections` must name one of
  those; anything else (an id not shown, a non-number) is counted and dropped. WujiangXu shows global
  list indices and links any index; agiresearch validates against UUIDs it never shows.
- `update_neighbor` updates each neighbour i for which a tag list and/or a context is given (the
  source walks only min(neighbours, tag lists)); an empty tag list or context keeps the old one,
  and `strengthen` with no tags keeps the new note's tags (the source would blank them).
- Note construction is batched over all messages of an ingest call; evolution is sequential
  (each note sees the notes stored before it): one LLM call per message after the first — the
  dominant ingestion cost. `evolve=False` turns it off (the paper's "w/o memory evolution" ablation).
- Time = session order: notes carry the session number (a session starts at each
  "Current user persona" system message) in place of the source's timestamps.
- `skip_system` keeps system messages (personas; in 128k/1M also unrelated Q&A preambles follow as
  user/assistant turns) out of memory; sessions are still counted.
- Replies are searched for the first object with the wanted keys (small models echo the prompt
  first); placeholders copied from the prompt's format ("...") count as missing values.
- Prompts are our own wording of the source's instructions.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from comam_bench.api import Answer, Chat, Message, Question, Resources
from comam_bench.budget import fit_head
from comam_bench.retrieval import BM25Index, EmbeddingCache, dense_scores, top_k
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory, answer_budget, recorded_args
from comam_bench.systems.llm_json import as_bool, as_str_list, parse_json_object

PROMPT_VERSION = "a-mem-v1"

NOTE_PROMPT = """Describe the message below for a memory index. Give:
- "keywords": the most important specific words (nouns, verbs, key concepts), most important first, at least three; not the speaker's name.
- "context": one sentence on the main topic and key points (for example what the user likes, dislikes, did or plans, and why).
- "tags": at least three broad categories (the domain, and the kind of statement, such as preference, event or advice).
Answer with JSON only: {{"keywords": ["..."], "context": "...", "tags": ["..."]}}

Message:
{content}"""

EVOLVE_PROMPT = """You maintain a knowledge base of memory notes about a conversation with a user. A new note arrived; below are its nearest existing notes. Decide whether the memory should evolve, and how:
- "strengthen": link the new note to the related neighbours (give their indices in "suggested_connections") and give the new note's updated tags in "tags_to_update".
- "update_neighbor": rewrite the neighbours' context and tags in light of the new note. Give one context and one tag list per neighbour, in the order listed; repeat the old ones for a neighbour that does not change.

New note:
content: {content}
context: {context}
keywords: {keywords}

Nearest notes ({n}):
{neighbours}

Answer with JSON only:
{{"should_evolve": true or false, "actions": ["strengthen", "update_neighbor"], "suggested_connections": [0], "tags_to_update": ["..."], "new_context_neighborhood": ["..."], "new_tags_neighborhood": [["..."]]}}"""

QUERY_PROMPT = """Write a few search keywords for the question below, separated by commas.
Answer with JSON only: {{"keywords": "keyword1, keyword2, keyword3"}}

Question: {question}"""

_FIRST_INT = re.compile(r"-?\d+")
_WORD = re.compile(r"\w")


@dataclass
class Note:
    """One memory note; `indexed`/`vec` are what the retriever holds until the next consolidation."""

    id: int
    content: str
    session: int
    keywords: list[str] = field(default_factory=list)
    context: str = "General"
    tags: list[str] = field(default_factory=list)
    links: list[int] = field(default_factory=list)
    indexed: str = ""
    vec: np.ndarray | None = None

    def doc(self) -> str:
        """The text the retriever indexes (the source's add_note document)."""
        return (f"content: {self.content} context: {self.context} keywords: {', '.join(self.keywords)} "
                f"tags: {', '.join(self.tags)}")


def is_session_start(message: Message) -> bool:
    """PersonaMem opens every session with a "Current user persona: ..." system message."""
    return message.role == "system" and message.content.lstrip().startswith("Current user persona")


def _clip(text: str, clip_chars: int) -> str:
    return text if len(text) <= clip_chars else text[:clip_chars] + " ..."


def _sentence(value: Any) -> str | None:
    """A model's free-text field, or None when missing, not a string, or a copied "..." placeholder."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)  # the source joins list contexts too
    return value.strip() if isinstance(value, str) and _WORD.search(value) else None


class AMem(AnswersFromMemory):
    name = "a-mem"
    description = "A-Mem: a note per message, LLM evolution of 5 neighbours (links, retags), hybrid BM25+dense"

    def __init__(self, resources: Resources, evolve_k: int = 5, retrieve_k: int = 10, alpha: float = 0.5,
                 max_links: int | None = None, evolve: bool = True, evo_threshold: int = 100,
                 skip_system: bool = False, query_keywords: bool = False, note_tokens: int = 96,
                 evolve_tokens: int = 192, query_tokens: int = 32, answer_tokens: int = DEFAULT_ANSWER_TOKENS,
                 clip_chars: int = 1000, show_metadata: bool = True, **kwargs: Any) -> None:
        super().__init__(resources, **kwargs)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"a-mem: alpha must be in [0, 1], got {alpha}")
        self.evolve_k, self.retrieve_k, self.alpha = evolve_k, retrieve_k, alpha
        self.max_links = self.retrieve_k if max_links is None else max_links
        self.evolve, self.evo_threshold = evolve, max(evo_threshold, 1)
        self.skip_system, self.query_keywords = skip_system, query_keywords
        self.note_tokens, self.evolve_tokens = note_tokens, evolve_tokens
        self.query_tokens, self.answer_tokens = query_tokens, answer_tokens
        self.clip_chars, self.show_metadata = clip_chars, show_metadata
        self.vectors = EmbeddingCache(lambda: self.resources.embedder)
        self.reset("")

    # ------------------------------------------------------------------ harness interface
    def reset(self, context_id: str) -> None:
        self.notes: list[Note] = []
        self.session = 0
        self.evo_count = 0
        self.bm25 = BM25Index()  # document i = notes[i].indexed
        self.vectors.clear()
        self._queries: dict[str, str] = {}

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        """Build notes for all new messages in one batch, then evolve and store them one by one."""
        kept: list[tuple[Message, int]] = []
        for m in messages:
            if is_session_start(m):
                self.session += 1
            if not (self.skip_system and m.role == "system"):
                kept.append((m, self.session))
        if not kept:
            return
        notes = self.build_notes(kept)
        query_vecs = self.embed([n.content for n in notes])
        for note, qvec in zip(notes, query_vecs):
            if self.evolve and self.notes:
                neighbours = self.nearest(qvec, self.evolve_k)
                if self.evolve_note(note, neighbours):
                    self.evo_count += 1
                    if self.evo_count % self.evo_threshold == 0:
                        self.consolidate()
            self.store(note)

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        if self.query_keywords:
            self._queries = self.keyword_queries(questions)
        return super().answer(questions)

    def memory_for(self, question: Question) -> str:
        query = self._queries.get(question.id, question.text)
        lines = [self.render(n) for n in self.retrieve(query)]
        budget = max(answer_budget(self.llm, question, self.answer_tokens), 0)
        kept, truncated = fit_head(self.llm, lines, budget)
        if truncated:
            self.resources.count("amem_memory_truncated")
        return "\n".join(kept)

    def memory_stats(self) -> dict[str, int]:
        return {"items": len(self.notes), "tokens": sum(self.llm.count_tokens(self.render(n)) for n in self.notes)}

    def config(self) -> dict[str, Any]:
        return {**recorded_args(self), "prompt_version": PROMPT_VERSION}

    # ------------------------------------------------------------------ note construction
    def build_notes(self, kept: Sequence[tuple[Message, int]]) -> list[Note]:
        """One generate() over all messages; unusable JSON falls back to the source's defaults."""
        chats = [[{"role": "user", "content": NOTE_PROMPT.format(content=_clip(m.content, self.clip_chars))}]
                 for m, _ in kept]
        gens = self.llm.generate(chats, max_new_tokens=self.note_tokens, temperature=0.0,
                                 seed=self.resources.seed, agent="amem_note")
        first_id = self.notes[-1].id + 1 if self.notes else 0
        return [self.parse_note(Note(first_id + i, m.content, session), gen.text)
                for i, ((m, session), gen) in enumerate(zip(kept, gens))]

    def parse_note(self, note: Note, text: str) -> Note:
        """Fill keywords/context/tags from the reply; missing or malformed fields keep the defaults."""
        obj = parse_json_object(text, ("keywords", "context", "tags"))
        if obj is None:
            self.resources.count("amem_bad_note_json")
            return note
        keywords, tags, context = as_str_list(obj.get("keywords")), as_str_list(obj.get("tags")), obj.get("context")
        context = _sentence(context)
        if not (keywords and tags and context):
            self.resources.count("amem_note_missing_field")
        note.keywords = keywords or []
        note.tags = tags or []
        note.context = context or "General"
        return note

    # ------------------------------------------------------------------ evolution
    def evolve_note(self, note: Note, neighbours: Sequence[Note]) -> bool:
        """One evolution call; applies strengthen / update_neighbor; returns should_evolve."""
        chat = self.evolve_chat(note, neighbours)
        gen = self.llm.generate([chat], max_new_tokens=self.evolve_tokens, temperature=0.0,
                                seed=self.resources.seed, agent="amem_evolve")[0]
        obj = parse_json_object(gen.text, ("should_evolve", "actions"))
        if obj is None:
            self.resources.count("amem_bad_evolution_json")
            return False
        if not as_bool(obj.get("should_evolve")):
            return False
        for action in (a.lower() for a in as_str_list(obj.get("actions")) or []):
            if action == "strengthen":
                self.strengthen(note, neighbours, obj)
            elif action == "update_neighbor":
                self.update_neighbours(neighbours, obj)
            else:
                self.resources.count("amem_unknown_action")
        return True

    def evolve_chat(self, note: Note, neighbours: Sequence[Note]) -> Chat:
        shown = "\n".join(
            f"[{i}] session {n.session} | content: {_clip(n.content, self.clip_chars)} | context: {n.context} | "
            f"keywords: {', '.join(n.keywords)} | tags: {', '.join(n.tags)}" for i, n in enumerate(neighbours))
        prompt = EVOLVE_PROMPT.format(content=_clip(note.content, self.clip_chars), context=note.context,
                                      keywords=", ".join(note.keywords), n=len(neighbours), neighbours=shown)
        return [{"role": "user", "content": prompt}]

    def strengthen(self, note: Note, neighbours: Sequence[Note], obj: dict) -> None:
        """Link the new note to the neighbours named by position; retag it."""
        for ref in as_str_list(obj.get("suggested_connections")) or []:
            match = _FIRST_INT.search(ref)
            pos = int(match.group()) if match else -1
            if not 0 <= pos < len(neighbours):
                self.resources.count("amem_unknown_link")
                continue
            if neighbours[pos].id not in note.links:
                note.links.append(neighbours[pos].id)
        tags = as_str_list(obj.get("tags_to_update"))
        if tags:
            note.tags = tags

    def update_neighbours(self, neighbours: Sequence[Note], obj: dict) -> None:
        """Rewrite neighbour i's context and tags from the i-th entries, where given and non-empty."""
        contexts = obj.get("new_context_neighborhood")
        tag_lists = obj.get("new_tags_neighborhood")
        contexts = contexts if isinstance(contexts, list) else []
        tag_lists = tag_lists if isinstance(tag_lists, list) else []
        for i, neighbour in enumerate(neighbours):
            if i < len(tag_lists):
                tags = as_str_list(tag_lists[i])
                if tags:
                    neighbour.tags = tags
            context = _sentence(contexts[i]) if i < len(contexts) else None
            if context:
                neighbour.context = context

    def store(self, note: Note) -> None:
        """Index the note with its text as it stands now (after its own evolution)."""
        note.indexed = note.doc()
        note.vec = self.embed([note.indexed])[0]
        self.notes.append(note)
        self.bm25.add(note.indexed)

    def consolidate(self) -> None:
        """Re-index every note whose context/tags changed since it was indexed."""
        stale = [i for i, n in enumerate(self.notes) if n.indexed != n.doc()]
        vecs = self.embed([self.notes[i].doc() for i in stale])
        for i, vec in zip(stale, vecs):
            note = self.notes[i]
            note.indexed, note.vec = note.doc(), vec
            self.bm25.set(i, note.indexed)

    # ------------------------------------------------------------------ retrieval
    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm embeddings, cached by text."""
        return self.vectors.vectors(list(texts))

    def nearest(self, qvec: np.ndarray, k: int) -> list[Note]:
        """The k notes closest to a query vector by cosine, best first (evolution neighbours)."""
        scores = dense_scores(qvec, np.stack([n.vec for n in self.notes]))
        return [self.notes[i] for i in top_k(scores, k)]

    def scores(self, query: str) -> np.ndarray:
        """alpha * min-max-normalised BM25 + (1 - alpha) * cosine, over all notes."""
        cosine = dense_scores(self.embed([query])[0], np.stack([n.vec for n in self.notes]))
        if self.alpha == 0.0:
            return cosine
        bm25 = self.bm25_scores(query)
        bm25 = (bm25 - bm25.min()) / (bm25.max() - bm25.min() + 1e-6)
        return self.alpha * bm25 + (1.0 - self.alpha) * cosine

    def bm25_scores(self, query: str) -> np.ndarray:
        """Raw BM25 of every note's indexed text (shared BM25Index: bm25s, English stopwords, no stemmer)."""
        return self.bm25.scores(query)

    def retrieve(self, query: str) -> list[Note]:
        """Top `retrieve_k` notes, each followed by its linked notes (at most `max_links` in all)."""
        if not self.notes or self.retrieve_k <= 0:
            return []
        by_id = {n.id: n for n in self.notes}
        hits = [self.notes[i] for i in top_k(self.scores(query), self.retrieve_k)]
        out, seen, linked = [], set(), 0
        for hit in hits:
            if hit.id not in seen:
                out.append(hit)
                seen.add(hit.id)
            for link in hit.links:
                if linked < self.max_links and link in by_id and link not in seen:
                    out.append(by_id[link])
                    seen.add(link)
                    linked += 1
        return out

    def keyword_queries(self, questions: Sequence[Question]) -> dict[str, str]:
        """LLM keywords as retrieval queries (the LoCoMo script's generate_query_llm); question text on failure."""
        chats = [[{"role": "user", "content": QUERY_PROMPT.format(question=q.text)}] for q in questions]
        gens = self.llm.generate(chats, max_new_tokens=self.query_tokens, temperature=0.0,
                                 seed=self.resources.seed, agent="amem_query")
        out = {}
        for q, gen in zip(questions, gens):
            obj = parse_json_object(gen.text, "keywords")
            words = as_str_list(obj["keywords"]) if obj else None
            if not words:
                self.resources.count("amem_bad_query_json")
            out[q.id] = ", ".join(words) if words else q.text
        return out

    def render(self, note: Note) -> str:
        if not self.show_metadata:
            return f"[session {note.session}] {note.content}"
        return (f"[session {note.session}] {note.content} (context: {note.context}; "
                f"keywords: {', '.join(note.keywords)}; tags: {', '.join(note.tags)})")
