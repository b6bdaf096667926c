"""MemoryOS (Kang et al., EMNLP 2025; BAI-LAB/MemoryOS), re-implemented on the harness.

Memory
- Short-term (STM): a FIFO of dialogue pages (query/response pairs), `short_term_capacity` = 7 (the
  README's setting; the library default is 10). When it is full and a page arrives, the oldest
  `evict_batch` pages (1 in the library) move to mid-term.
- Dialogue chains: each moved page is checked for continuity with the page moved before it (LLM, true /
  false); a chain keeps one running overview ("meta info", LLM) shown with its pages.
- Mid-term (MTM): topic segments. The moved pages get an LLM multi-topic summary (at most 2 themes, JSON
  with keywords); each theme joins the segment with the best score = cos(summary embeddings) +
  Jaccard(keywords) if it reaches 0.6, else opens a new segment. At most 2000 segments (LFU eviction).
- Heat = alpha·N_visit + beta·L_interaction + gamma·exp(-Δt / tau), alpha = beta = gamma = 1. After each
  added page, if the hottest segment's heat reaches 5, its unanalyzed pages go to long-term memory: the
  LLM rewrites the user profile and extracts user facts and assistant knowledge; the segment's visits
  and interaction count reset to 0 and its pages are marked analyzed.
- Long-term: the profile, and user / assistant knowledge (100 entries each, oldest dropped first).
- Retrieval by the question text: top 5 segments by summary cosine (>= 0.1), their pages with cosine
  >= 0.1 (a segment that yields a page gets a visit), the best 7 pages overall; knowledge entries with
  cosine >= 0.01, top 20 of each kind; plus the profile and the whole STM. All of it goes into the
  harness's standard answer prompt (not MemoryOS's role-play response prompt).

Time: PersonaMem has no timestamps, so time is the session index (day k = session k, see
memorybank.turns). The library's recency uses tau = 24 hours (Δt in hours); with one session per day that
is tau = 1 session, our default. The paper states mu = 1e7 seconds (about 116 days): `recency_tau=116`.

Followed: memoryos-pypi/{memoryos,updater,mid_term,retriever,utils,prompts}.py. Deviations:
- LLM calls are batched per ingest() call: the evictions of an ingest are known in advance, so all
  summaries, continuity checks and chain overviews go out in one batch each; segment placement and heat
  checks then replay page by page without the LLM. Promotions found during one ingest() each get their
  own knowledge extraction, but share one profile rewrite over all their pages (in order), instead of
  one rewrite per promotion. A chain overview is written once per run of continuous pages (the library
  rewrites it page by page); the whole chain gets the newest overview, as in the library.
- A multi-theme summary: the library inserts the whole batch under every theme (pages stored twice); we
  give each page to the theme whose summary is closest to it.
- Pages with an empty side (a system note, an unanswered query) are kept; the library drops them.
- Unusable summary JSON: the library falls back to one fixed generic summary (so all such batches merge
  into one segment); we use the batch's opening words and most frequent words. Keywords are lower-cased.
- Heat is evaluated when checked (the library reads a value cached at the segment's last update), and
  the check takes the hottest segment that still has unanalyzed pages (in the library an analyzed hot
  segment blocks every other one).
- Profile dimensions: a compact list of the library's families (see memoryos.prompts); prompts are ours.
- Retrieval updates visits, so a run resumed in the middle of a context continues from a memory that did
  not see the skipped answers.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from comam_bench.api import Answer, Question, Resources
from comam_bench.budget import fit_lines, input_budget
from comam_bench.retrieval import EmbeddingCache, dense_scores, top_k
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory
from comam_bench.systems.memorybank.turns import Turn, TurnPairer
from comam_bench.systems.memoryos.prompts import (continuity_chat, fallback_theme, knowledge_chat, meta_chat,
                                                  multi_summary_chat, parse_continuity, parse_knowledge,
                                                  parse_themes, profile_chat, usable_profile)
from comam_bench.systems.memoryos.store import HeatParams, MidTermMemory, Page

CONTINUITY_TOKENS = 8  # "true" / "false"


@dataclass
class Knowledge:
    text: str
    day: int
    vec: np.ndarray


@dataclass
class Promotion:
    """A hot segment's unanalyzed pages, sent to long-term memory."""

    segment: int
    pages: list[Page]
    day: int


class MemoryOS(AnswersFromMemory):
    name = "memoryos"
    answer_mutates_memory = True  # recall changes memory (strength / heat)
    description = "MemoryOS: short-term pages -> mid-term topic segments with heat -> long-term profile and facts"

    def __init__(self, resources: Resources, short_term_capacity: int = 7, evict_batch: int = 1,
                 mid_term_capacity: int = 2000, similarity_threshold: float = 0.6, keyword_weight: float = 1.0,
                 heat_alpha: float = 1.0, heat_beta: float = 1.0, heat_gamma: float = 1.0, recency_tau: float = 1.0,
                 heat_threshold: float = 5.0, top_segments: int = 5, segment_threshold: float = 0.1,
                 page_threshold: float = 0.1, retrieval_pages: int = 7, knowledge_capacity: int = 100,
                 top_knowledge: int = 20, knowledge_threshold: float = 0.01, max_themes: int = 2,
                 page_chains: bool = True, summary_tokens: int = 128, meta_tokens: int = 64,
                 profile_tokens: int = 256, knowledge_tokens: int = 160, input_tokens: int = 3072,
                 answer_tokens: int = DEFAULT_ANSWER_TOKENS, **kwargs: Any) -> None:
        # Every constructor argument, as given: recorded by config() and set as an attribute of the same name.
        self._config = {k: v for k, v in locals().items() if k not in ("self", "resources", "kwargs", "__class__")}
        super().__init__(resources, **kwargs)
        if short_term_capacity < 1 or evict_batch < 1:
            raise ValueError("short_term_capacity and evict_batch must be at least 1")
        for key, value in self._config.items():
            setattr(self, key, value)
        self.heat_params = HeatParams(heat_alpha, heat_beta, heat_gamma, recency_tau)
        self.cache = EmbeddingCache(lambda: self.resources.embedder)
        self.reset("")

    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def reset(self, context_id: str) -> None:
        self.pairer = TurnPairer()
        self.stm: deque[Page] = deque()
        self.mid = MidTermMemory(self.mid_term_capacity, self.similarity_threshold, self.keyword_weight,
                                 self.heat_params)
        self.profile = ""
        self.user_knowledge: deque[Knowledge] = deque(maxlen=self.knowledge_capacity)
        self.assistant_knowledge: deque[Knowledge] = deque(maxlen=self.knowledge_capacity)
        self.chains: dict[int, list[Page]] = {}
        self.last_evicted: Page | None = None
        self._next_page = 0
        self._query_vecs: dict[str, np.ndarray] = {}
        self.cache.clear()

    # ------------------------------------------------------------------ helpers
    def _generate(self, chats, max_new_tokens: int, agent: str) -> list[str]:
        if not chats:
            return []
        gens = self.llm.generate(chats, max_new_tokens=max_new_tokens, temperature=0.0,
                                 seed=self.resources.seed, agent=agent)
        return [g.text.strip() for g in gens]

    def _fit(self, lines: list[str], max_new_tokens: int, problem: str, reserve: int = 0) -> str:
        budget = input_budget(self.llm, self.input_tokens - reserve, max_new_tokens)
        return fit_lines(self.llm, lines, budget, self.resources, problem)

    def _page(self, turn: Turn) -> Page:
        page = Page(self._next_page, turn.query, turn.response, turn.day, turn.kind)
        self._next_page += 1
        return page

    # ------------------------------------------------------------------ ingestion
    def ingest(self, messages: Sequence, start: int) -> None:
        pages = [self._page(e) for e in self.pairer.push_all(messages, start) if isinstance(e, Turn)]
        if not pages:
            return
        steps = self._plan(pages)
        batches = [batch for batch, _ in steps if batch]
        themes = []
        if batches:
            evicted = [p for batch in batches for p in batch]
            for page, vec in zip(evicted, self.cache.vectors([p.text() for p in evicted])):
                page.vec = vec
            themes = self._summarize(batches)
            if self.page_chains:
                self._link_chains(evicted)
            self.last_evicted = evicted[-1]
        promotions = self._consolidate(steps, themes)
        self._update_long_term(promotions)

    def _plan(self, pages: list[Page]) -> list[tuple[list[Page] | None, int]]:
        """Push pages through the STM FIFO; returns, per added page, the batch it evicted and its day."""
        steps = []
        for page in pages:
            batch = None
            if len(self.stm) >= self.short_term_capacity:
                batch = [self.stm.popleft() for _ in range(min(self.evict_batch, len(self.stm)))]
            self.stm.append(page)
            steps.append((batch, page.day))
        return steps

    def _summarize(self, batches: list[list[Page]]) -> list[list[tuple[str, list[str], np.ndarray]]]:
        """Multi-topic summary per evicted batch (one LLM batch); themes with embedded summaries."""
        texts = [self._fit([p.text() for p in b], self.summary_tokens, "memoryos_summary_input_truncated")
                 for b in batches]
        outs = self._generate([multi_summary_chat(t, self.max_themes) for t in texts], self.summary_tokens,
                              "mid_term_summary")
        parsed = []
        for text, out in zip(texts, outs):
            themes = parse_themes(out, self.max_themes)
            if themes is None:
                self.resources.count("memoryos_bad_summary_json")
                themes = [fallback_theme(text)]
            parsed.append(themes)
        vecs = iter(self.cache.vectors([s for themes in parsed for s, _ in themes]))
        return [[(s, kw, next(vecs)) for s, kw in themes] for themes in parsed]

    def _link_chains(self, evicted: list[Page]) -> None:
        """Continuity of each page with the one moved before it; one overview per run of continuous pages."""
        previous = [self.last_evicted] + evicted[:-1]
        asked = [i for i, prev in enumerate(previous) if prev is not None]
        outs = self._generate([continuity_chat(previous[i].text(), evicted[i].text()) for i in asked],
                              CONTINUITY_TOKENS, "page_chain")
        continuous = [False] * len(evicted)
        for i, out in zip(asked, outs):
            verdict = parse_continuity(out)
            if verdict is None:
                self.resources.count("memoryos_bad_continuity")
            continuous[i] = bool(verdict)
        runs: list[list[Page]] = []
        for page, cont in zip(evicted, continuous):
            if cont and runs:
                runs[-1].append(page)
            else:
                runs.append([page])
        first_continues = continuous[0] and self.last_evicted is not None
        self._write_overviews(runs, first_continues)

    def _write_overviews(self, runs: list[list[Page]], first_continues: bool) -> None:
        olds, chain_ids = [], []
        for k, run in enumerate(runs):
            if k == 0 and first_continues:
                prev = self.last_evicted
                chain_ids.append(prev.chain if prev.chain is not None else prev.id)
                olds.append(prev.meta)
            else:
                chain_ids.append(run[0].id)
                olds.append("")
        dialogues = [self._fit([p.text() for p in run], self.meta_tokens, "memoryos_meta_input_truncated")
                     for run in runs]
        outs = self._generate([meta_chat(o, d) for o, d in zip(olds, dialogues)], self.meta_tokens, "page_chain")
        for run, chain, old, out in zip(runs, chain_ids, olds, outs):
            if not out:
                self.resources.count("memoryos_empty_meta")
            members = self.chains.setdefault(chain, [])
            members.extend(run)
            for page in members:  # the whole chain shares its newest overview
                page.chain = chain
                page.meta = out or old

    def _consolidate(self, steps, themes) -> list[Promotion]:
        """Replay the added pages: insert each evicted batch, then check the hottest segment."""
        promotions, pending = [], iter(themes)
        for batch, now in steps:
            if batch:
                self._insert(batch, next(pending), now)
            promotion = self._promote(now)
            if promotion is not None:
                promotions.append(promotion)
        return promotions

    def _insert(self, batch: list[Page], themes, now: int) -> None:
        groups: list[list[Page]] = [[] for _ in themes]
        if len(themes) == 1:
            groups[0] = list(batch)
        else:
            theme_vecs = np.stack([vec for _, _, vec in themes])
            for page in batch:
                groups[top_k(dense_scores(page.vec, theme_vecs), 1)[0]].append(page)
        for (summary, keywords, vec), pages in zip(themes, groups):
            if pages:
                self.mid.insert(summary, keywords, vec, pages, now)

    def _promote(self, now: int) -> Promotion | None:
        found = self.mid.hottest(now, lambda s: any(not p.analyzed for p in s.pages))
        if found is None or found[1] < self.heat_threshold:
            return None
        seg = found[0]
        pages = [p for p in seg.pages if not p.analyzed]
        for page in seg.pages:
            page.analyzed = True
        seg.n_visit, seg.l_interaction, seg.last_visit = 0, 0, now
        self.resources.count("memoryos_promotions")
        return Promotion(seg.id, pages, now)

    def _update_long_term(self, promotions: list[Promotion]) -> None:
        """Knowledge per promotion (one batch); one profile rewrite over all promoted pages."""
        if not promotions:
            return
        convs = [self._fit([p.dated() for p in pr.pages], self.knowledge_tokens, "memoryos_knowledge_input_truncated")
                 for pr in promotions]
        outs = self._generate([knowledge_chat(c) for c in convs], self.knowledge_tokens, "knowledge")
        new: list[tuple[deque, str, int]] = []
        for pr, out in zip(promotions, outs):
            parsed = parse_knowledge(out)
            if parsed is None:
                self.resources.count("memoryos_bad_knowledge")
                continue
            new += [(self.user_knowledge, t, pr.day) for t in parsed[0]]
            new += [(self.assistant_knowledge, t, pr.day) for t in parsed[1]]
        for (store, text, day), vec in zip(new, self.cache.vectors([t for _, t, _ in new])):
            store.append(Knowledge(text, day, vec))
        pages = [p.dated() for pr in promotions for p in pr.pages]
        conv = self._fit(pages, self.profile_tokens, "memoryos_profile_input_truncated",
                         reserve=self.llm.count_tokens(self.profile))
        out = self._generate([profile_chat(self.profile, conv)], self.profile_tokens, "profile")[0]
        if usable_profile(out):
            self.profile = out
        else:
            self.resources.count("memoryos_empty_profile")

    # ------------------------------------------------------------------ retrieval and answers
    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        vecs = self.cache.vectors([q.text for q in questions])
        self._query_vecs = {q.id: vecs[i] for i, q in enumerate(questions)}
        return super().answer(questions)

    def _knowledge(self, store: deque, vec) -> list[Knowledge]:
        if not store:
            return []
        items = list(store)
        sims = dense_scores(vec, np.stack([k.vec for k in items]))
        return [items[i] for i in top_k(sims, self.top_knowledge) if sims[i] >= self.knowledge_threshold]

    def retrieve_pages(self, vec) -> list[Page]:
        """The best `retrieval_pages` mid-term pages for a query vector (updates segment visits)."""
        hits = self.mid.search(vec, self.pairer.day, self.top_segments, self.segment_threshold,
                               self.page_threshold)
        return [hits[i][1] for i in top_k([s for s, _ in hits], self.retrieval_pages)]

    def memory_for(self, question: Question) -> str:
        vec = self._query_vecs.get(question.id)
        if vec is None:
            vec = self.cache.vectors([question.text])[0]
        lines = []
        if self.profile:
            lines += ["User profile:", self.profile]
        for title, store in (("Facts about the user:", self.user_knowledge),
                             ("What the assistant provided before:", self.assistant_knowledge)):
            found = self._knowledge(store, vec)
            if found:
                lines += [title] + [f"- {k.text} (day {k.day})" for k in found]
        pages = self.retrieve_pages(vec)
        if pages:
            lines.append("Related earlier conversation:")
            for page in pages:
                lines.append(page.dated())
                if page.meta:
                    lines.append(f"Thread overview: {page.meta}")
        recent = [p.dated() for p in self.stm]
        open_turn = self.pairer.open_turn()
        if open_turn is not None:
            recent.append(f"[day {open_turn.day}] User: {open_turn.query}")
        if recent:
            lines += ["Recent conversation:"] + recent
        return "\n".join(lines)

    def memory_stats(self) -> dict[str, int]:
        texts = [p.text() for p in self.stm] + [p.text() for p in self.mid.pages()]
        texts += [s.summary for s in self.mid.segments.values()]
        texts += [k.text for k in (*self.user_knowledge, *self.assistant_knowledge)]
        texts += [self.profile] if self.profile else []
        return {"items": len(texts), "tokens": sum(self.llm.count_tokens(t) for t in texts)}
