"""CAM, Constructivist Agentic Memory (Li et al., arXiv 2510.05520; public code HareetX/CAM).

Memory development: the history is cut into chunks of `chunk_tokens` (512 in the paper and the public
runs), each session chunked on its own as the public conversation chunker does. Chunks are the nodes of a
base graph whose edges come from s(i, j) = alpha*cos + (1-alpha)*exp(-(i-j)^2 / 2 sigma^2) passing
`threshold`, top `edge_k` per chunk. Ego-centric disentanglement gives a non-overlapping replica graph;
incremental label propagation on it gives overlapping clusters; each cluster is summarised by the LLM into
a node one level up, whose graph links clusters that overlap or hold adjacent members; recursively, until
clustering stops reducing the node count or `max_level` (the graph algorithms are in cam_graph.py).
Retrieval is prune-and-grow: the top `top_s` nodes of any level by cosine to the question are shown to
the LLM with small integer ids; it keeps the useful ones; the same-level neighbours and children of the
kept nodes become the next candidates; this repeats until nothing new is kept, no candidate is left,
`max_rounds` rounds ran, or the kept texts fill the memory budget. The kept texts (summaries first, then
chunks in history order) are the memory under the shared answer prompt.

Followed from the paper and code: the score and its defaults (alpha 0.6, sigma 1 chunk, threshold 0.6,
k 10, negative cosines clipped to 0), replicas per ego component with the edge mapping of the code's
persona graph, max cluster size 12 (larger clusters cut into runs), the super-graph edges, the stopping
rule (stop when clusters >= nodes, or at level 10), top-10 initial candidates, the kept set falling back
to the initial candidates when the LLM keeps nothing, selections as 1-based passage numbers.

Decisions and deviations:
- Incremental chunking (retrieval.Packer). A chunk joins the graph only once it is closed (a later chunk
  or session began); the open last chunk is still a retrieval candidate, but has no edges. Otherwise every
  ingest call would change a node and re-summarise its whole path to the root.
- Edges: a chunk picks among earlier chunks only (the code picks among all, both ways; the paper's
  incremental rule among all present). So the base graph does not depend on how messages were batched.
- Label propagation (the paper's incremental variant; the code runs networkx's batch one): asynchronous, in
  sorted replica order, ties keep the current label else take the smallest; labels persist between
  updates, so an incremental build can differ from a one-shot build where propagation is path-dependent.
- Summaries are cached by the texts of their children: only changed clusters are summarised, one batched
  LLM call per level. A singleton cluster's parent reuses its child's text unless `summarize_singletons`.
- Selection: candidates are clipped to `select_clip_tokens` in the prompt, already shown nodes are not
  shown again, the grown candidates are capped at `top_s` by cosine, and there are `max_rounds` rounds
  (5 in the code). The code re-shows kept nodes and stops when the candidate set repeats.
- Prompts are our own wording, aimed at user facts and preference changes rather than novel narratives.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from comam_bench.api import Answer, Message, Question, Resources
from comam_bench.budget import Packer, head_within
from comam_bench.retrieval import EmbeddingCache, top_k
from comam_bench.systems.base import DEFAULT_ANSWER_TOKENS, AnswersFromMemory, answer_budget, recorded_args
from comam_bench.systems.cam.graph import Adj, Hierarchy, grow_candidates, link, pick_earlier
from comam_bench.systems.llm_json import parse_json

PROMPT_VERSION = "cam-v1"
HEADER_RESERVE = 16  # tokens for memory_chat's header line

SUMMARY_PROMPT = """Summarise these related passages from conversations between a user and an assistant in one short paragraph. Keep the concrete facts about the user: what they like and dislike, their plans and habits, and how their preferences changed and why. Keep the order in which things happened. Write only the summary.

{passages}"""

SELECT_PROMPT = """Below are numbered passages from your memory of past conversations with a user, then the user's new message. Which passages could help you reply well to it? Facts about the user, their preferences and how those changed all help.

{passages}

The user's new message: {question}

Answer with the numbers of all helpful passages as a list, for example [1, 3]. Answer [] if none helps."""

_INT = re.compile(r"\d+")
_SUMMARY_LEAD = re.compile(r"^\s*(\*\*)?summary(\*\*)?\s*:(\*\*)?\s*", re.I)  # a "Summary:" lead-in


@dataclass
class Chunk:
    """A run of consecutive rendered messages within one session (the base unit of memory)."""

    start: int  # index of its first message in the context
    session: int
    lines: list[str] = field(default_factory=list)
    tokens: int = 0
    end: int = 0  # one past its last message

    def text(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Node:
    """A memory node as retrieval sees it: a chunk (level 0) or a cluster summary (level >= 1)."""

    level: int
    id: int
    text: str
    start: int
    end: int
    first_session: int
    last_session: int

    @property
    def key(self) -> tuple[int, int]:
        return (self.level, self.id)

    def label(self) -> str:
        span = (f"session {self.first_session}" if self.first_session == self.last_session
                else f"sessions {self.first_session}-{self.last_session}")
        return f"[{span}]" if self.level == 0 else f"[summary of {span}]"


def is_session_start(message: Message) -> bool:
    """PersonaMem opens every session with a "Current user persona: ..." system message."""
    return message.role == "system" and message.content.lstrip().lower().startswith("current user persona")


def render_line(message: Message) -> str:
    """One message as a line: PersonaMem contents already carry "User: "/"Assistant: " prefixes."""
    speaker = message.role.capitalize()
    if message.content.lower().startswith(speaker.lower() + ":"):
        return message.content
    return f"{speaker}: {message.content}"


def parse_selection(text: str, n: int) -> tuple[list[int] | None, int]:
    """0-based indices of the passages a selection names (1..n), and how many names were out of range.

    A JSON list is read first; otherwise every integer in the text counts. None when nothing is readable.
    """
    value = parse_json(text)
    if isinstance(value, dict):  # {"passages": [1, 3]}
        value = next((v for v in value.values() if isinstance(v, list)), None)
    items = value if isinstance(value, list) else _INT.findall(text or "")
    if not isinstance(value, list) and not items:
        return None, 0
    chosen: list[int] = []
    bad = 0
    for item in items:
        digits = _INT.search(str(item))  # "Passage 2" counts as 2
        if digits is None:
            bad += 1
            continue
        i = int(digits.group())
        if 1 <= i <= n:
            if i - 1 not in chosen:
                chosen.append(i - 1)
        else:
            bad += 1
    return chosen, bad


class CAM(AnswersFromMemory):
    name = "cam"
    description = ("CAM: chunk graph, ego-network replicas + incremental label propagation, LLM cluster "
                   "summaries up the levels, prune-and-grow retrieval")

    def __init__(self, resources: Resources, chunk_tokens: int = 512, alpha: float = 0.6, sigma: float = 1.0,
                 threshold: float = 0.6, edge_k: int = 10, max_cluster_size: int = 12, max_level: int = 10,
                 lpa_iters: int = 30, summary_tokens: int = 128, summary_input_tokens: int = 1536,
                 summarize_singletons: bool = False, top_s: int = 10, max_rounds: int = 3,
                 select_tokens: int = 32, select_clip_tokens: int = 128, memory_tokens: int | None = None,
                 answer_tokens: int = DEFAULT_ANSWER_TOKENS, **kwargs: Any) -> None:
        super().__init__(resources, **kwargs)
        if not 0.0 <= alpha <= 1.0 or sigma <= 0:
            raise ValueError(f"cam: alpha must be in [0, 1] and sigma > 0, got {alpha}, {sigma}")
        self.chunk_tokens, self.alpha, self.sigma = chunk_tokens, alpha, sigma
        self.threshold, self.edge_k = threshold, edge_k
        self.max_cluster_size, self.max_level, self.lpa_iters = max_cluster_size, max_level, lpa_iters
        self.summary_tokens, self.summary_input_tokens = summary_tokens, summary_input_tokens
        self.summarize_singletons = summarize_singletons
        self.top_s, self.max_rounds = top_s, max_rounds
        self.select_tokens, self.select_clip_tokens = select_tokens, select_clip_tokens
        self.memory_tokens = memory_tokens
        self.answer_tokens = answer_tokens
        self.cache = EmbeddingCache(lambda: self.resources.embedder)
        self.reset("")

    def config(self) -> dict[str, Any]:
        return {**recorded_args(self), "prompt_version": PROMPT_VERSION}

    # ------------------------------------------------------------------ memory development
    def reset(self, context_id: str) -> None:
        self.chunks: list[Chunk] = []
        self.seen = 0
        self.session = 0
        self._packer: Packer | None = None
        self._offset = 0  # index of the current session's first chunk
        self.base: Adj = {}  # the graph over closed chunks
        self.hierarchy = Hierarchy(self.max_level, self.max_cluster_size, self.lpa_iters)
        self.nodes: dict[tuple[int, int], Node] = {}  # every graph node, all levels
        self.summaries: dict[tuple[str, ...], str] = {}  # children texts -> summary text
        self.cache.clear()
        self._memory: dict[str, tuple[str, dict[str, Any]]] = {}

    def _count(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        if start != self.seen:
            self.resources.count("cam_ingest_gap")
        for message in messages:
            self._add(message)
            self.seen += 1
        closed = len(self.chunks) - 1  # the last chunk may still grow
        if closed > len(self.base):
            self._assimilate(range(len(self.base), closed))

    def _add(self, message: Message) -> None:
        role, content = getattr(message, "role", None), getattr(message, "content", None)
        if not isinstance(role, str) or not isinstance(content, str):
            self.resources.count("cam_bad_message")
            message = Message(str(role or "unknown"), "" if content is None else str(content))
        if is_session_start(message) or self._packer is None:
            self.session += int(is_session_start(message))
            self._packer, self._offset = Packer(self.chunk_tokens, self._count), len(self.chunks)
        for i, piece, n in self._packer.add(render_line(message)):
            if self._offset + i == len(self.chunks):
                self.chunks.append(Chunk(self.seen, self.session))
            chunk = self.chunks[self._offset + i]
            chunk.lines.append(piece)
            chunk.tokens += n
            chunk.end = self.seen + 1

    def _assimilate(self, new: range) -> None:
        """Closed chunks join the base graph; the hierarchy and the changed summaries follow."""
        vectors = self.cache.vectors([c.text() for c in self.chunks[:new.stop]])
        for i in new:
            self.base.setdefault(i, set())
            for j in pick_earlier(vectors, i, alpha=self.alpha, sigma=self.sigma, threshold=self.threshold,
                                  k=self.edge_k):
                link(self.base, i, j)
        self.hierarchy.update(self.base)
        self._refresh_nodes()

    def _refresh_nodes(self) -> None:
        """Rebuild the node table level by level, summarising (in one call per level) what changed."""
        nodes = {(0, i): self._chunk_node(i) for i in self.base}
        for level in range(1, len(self.hierarchy.levels)):
            children = {p: sorted((nodes[(level - 1, c)] for c in kids), key=lambda n: (n.start, n.id))
                        for p, kids in self.hierarchy.levels[level].children.items()}
            self._summarise([kids for kids in children.values()])
            for p, kids in children.items():
                text = self.summaries[tuple(k.text for k in kids)]
                nodes[(level, p)] = Node(level, p, text, min(k.start for k in kids), max(k.end for k in kids),
                                         min(k.first_session for k in kids), max(k.last_session for k in kids))
        self.nodes = nodes

    def _chunk_node(self, i: int) -> Node:
        c = self.chunks[i]
        return Node(0, i, c.text(), c.start, c.end, c.session, c.session)

    def _summarise(self, groups: list[list[Node]]) -> None:
        """Summaries for the child groups not in the cache, in one batched LLM call."""
        todo: dict[tuple[str, ...], list[Node]] = {}
        for kids in groups:
            key = tuple(k.text for k in kids)
            if key in self.summaries or key in todo:
                continue
            if len(kids) == 1 and not self.summarize_singletons:
                self.summaries[key] = kids[0].text
            else:
                todo[key] = kids
        if not todo:
            return
        chats = [[{"role": "user", "content": SUMMARY_PROMPT.format(passages=self._passages(kids))}]
                 for kids in todo.values()]
        gens = self.llm.generate(chats, max_new_tokens=self.summary_tokens, temperature=0.0,
                                 seed=self.resources.seed, agent="cam_summarize")
        for (key, kids), gen in zip(todo.items(), gens):
            text = _SUMMARY_LEAD.sub("", gen.text or "").strip()
            if not text:  # keep the cluster readable: the heads of its children
                self.resources.count("cam_empty_summary")
                text = self._clip(" ".join(k.text for k in kids), self.summary_tokens)
            self.summaries[key] = text

    def _passages(self, kids: list[Node]) -> str:
        """Children as numbered passages, each clipped so that all fit `summary_input_tokens`."""
        each = max(self.summary_input_tokens // len(kids), 16)
        return "\n".join(f"Passage {i} {k.label()}: {self._clip(k.text, each)}" for i, k in enumerate(kids, start=1))

    def _clip(self, text: str, limit: int) -> str:
        """`text` on one line, cut to its first `limit` tokens."""
        return head_within(" ".join(text.split()), limit, self._count)

    def memory_stats(self) -> dict[str, int]:
        pool = self._pool()
        return {"items": len(pool), "tokens": sum(self._count(n.text) for n in pool)}

    # ------------------------------------------------------------------ prune-and-grow retrieval
    def _pool(self) -> list[Node]:
        """Every retrievable node: the graph's, plus the open last chunk; chunks first, then level by level."""
        pool = sorted(self.nodes.values(), key=lambda n: n.key)
        if len(self.chunks) > len(self.base):
            pool.insert(len(self.base), self._chunk_node(len(self.chunks) - 1))
        return pool

    def _retrieve(self, questions: Sequence[Question]) -> None:
        """Prune-and-grow for every question, the LLM calls of one round batched across questions."""
        pool = self._pool()
        vecs = self.cache.vectors([n.text for n in pool] + [q.text for q in questions])
        by_key = {n.key: n for n in pool}
        states = []
        for qi, q in enumerate(questions):
            scores = {n.key: float(s) for n, s in zip(pool, vecs[: len(pool)] @ vecs[len(pool) + qi])} if pool else {}
            budget = max(answer_budget(self.llm, q, self.answer_tokens) - HEADER_RESERVE, 0)
            budget = min(budget, self.memory_tokens) if self.memory_tokens is not None else budget
            state = _Search(q, scores, budget)
            state.candidates = state.fresh([n.key for n in pool], by_key, self.top_s)  # pool order breaks ties
            state.initial = list(state.candidates)
            states.append(state)
        for _ in range(self.max_rounds):
            active = [s for s in states if s.candidates]
            if not active:
                break
            chats = [[{"role": "user", "content": self._select_prompt(s, by_key)}] for s in active]
            gens = self.llm.generate(chats, max_new_tokens=self.select_tokens, temperature=0.0,
                                     seed=self.resources.seed, agent="cam_select")
            for s, gen in zip(active, gens):
                self._advance(s, gen.text, by_key)
        for s in states:
            self._memory[s.question.id] = self._compose(s, by_key)

    def _select_prompt(self, s: "_Search", by_key: dict) -> str:
        lines = [f"[{i}] {by_key[k].label()} {self._clip(by_key[k].text, self.select_clip_tokens)}"
                 for i, k in enumerate(s.candidates, start=1)]
        return SELECT_PROMPT.format(passages="\n".join(lines), question=s.question.text)

    def _advance(self, s: "_Search", reply: str, by_key: dict) -> None:
        """Prune: keep what the LLM named; grow: the kept nodes' neighbours and children are next."""
        s.rounds += 1
        chosen, bad = parse_selection(reply, len(s.candidates))
        if bad:
            self.resources.count("cam_select_bad_id", bad)
        if chosen is None:
            self.resources.count("cam_select_unparsed")
            chosen = []
        picked = [s.candidates[i] for i in chosen]
        s.kept.extend(picked)
        s.used += sum(self._count(by_key[k].text) for k in picked)
        if not picked or s.used >= s.budget:
            s.candidates = []
            return
        grown = grow_candidates(picked, self.hierarchy.levels)
        s.candidates = s.fresh(sorted(grown & by_key.keys()), by_key, self.top_s)

    def _compose(self, s: "_Search", by_key: dict) -> tuple[str, dict[str, Any]]:
        """The kept texts that fit the budget (in the order kept), shown summaries first, then chunks by time."""
        kept = s.kept
        if not kept:
            self.resources.count("cam_select_fallback")
            kept = s.initial
        shown, used, dropped = [], 0, False
        for key in kept:  # a node that does not fit is left out; smaller later ones may still fit
            node = by_key[key]
            cost = self._count(node.label()) + self._count(node.text) + 2
            if used + cost > s.budget:
                dropped = True
                continue
            shown.append(node)
            used += cost
        if dropped:
            self.resources.count("cam_memory_truncated")
        shown.sort(key=lambda n: (-n.level, n.start, n.id))
        text = "\n\n".join(f"{n.label()}\n{n.text}" for n in shown)
        info = {"retrieved": [[n.start, n.end] for n in shown if n.level == 0],
                "cam_kept": [[n.level, n.start, n.end] for n in shown], "cam_rounds": s.rounds}
        return text, info

    # ------------------------------------------------------------------ answering
    def memory_for(self, question: Question) -> str:
        if question.id not in self._memory:  # called outside answer()
            self._retrieve([question])
        return self._memory[question.id][0]

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        """Prune-and-grow retrieval for the batch, then the shared answer prompt."""
        self._retrieve(questions)
        answers = super().answer(questions)
        for q, a in zip(questions, answers):
            a.info.update(self._memory.pop(q.id, ("", {}))[1])
        return answers


@dataclass
class _Search:
    """One question's prune-and-grow state."""

    question: Question
    scores: dict[tuple[int, int], float]
    budget: int
    candidates: list[tuple[int, int]] = field(default_factory=list)
    initial: list[tuple[int, int]] = field(default_factory=list)
    kept: list[tuple[int, int]] = field(default_factory=list)
    shown: set[tuple[int, int]] = field(default_factory=set)
    texts: set[str] = field(default_factory=set)  # texts already shown (a singleton's parent repeats its child)
    used: int = 0
    rounds: int = 0

    def fresh(self, keys: list[tuple[int, int]], by_key: dict, limit: int) -> list[tuple[int, int]]:
        """The best `limit` keys by cosine not shown before (by node or by text); marks them shown."""
        order = top_k(np.array([self.scores[k] for k in keys], dtype=np.float64)) if keys else []
        out = []
        for i in order:
            key = keys[i]
            text = by_key[key].text
            if key in self.shown or text in self.texts:
                continue
            out.append(key)
            self.shown.add(key)
            self.texts.add(text)
            if len(out) >= limit:
                break
        return out
