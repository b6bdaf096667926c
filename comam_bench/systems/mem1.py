"""Mem1 as a memory baseline: one bounded internal state, rewritten chunk by chunk as the history arrives.

Followed (MIT-MI/MEM1, arXiv 2506.15841; read in `Mem1/inference/data_pipelines.py` and
`Mem1/train/rollout/llm_agent/generation_think.py`): at every turn the model sees the task, its previous
internal state and only the newest observation, and writes a new internal state inside `<think>...</think>`
(the paper's `<IS>`); everything older leaves the context, so memory stays constant. The state is the
*last* complete tagged block of the output (upstream takes the first; a small model often echoes the
previous state first, and the newest block is the one it meant).

Deviations, for PersonaMem:
- The "observation" is a chunk of the conversation: a chunk closes when the next session starts (its
  "Current user persona" system message) or when it would pass `chunk_tokens`; the open session is
  consolidated once per question position, at answer time, and continues as a new chunk afterwards.
- The future question is unknown while consolidating, so the state prompt names what PersonaMem asks
  about (facts, preferences, how and why they changed) instead of a task question.
- No search action: the answer step is the harness's standard answer prompt with the state as the only
  memory (differences come from memory alone). MEM1 trains one model for both steps, so both are exposed
  as policies ("state", "answer"); a memory-only trainer updates "state" alone.
- The state is capped at `max_state_tokens` (truncated and counted): MEM1 bounds it only by training.

Trainability: each decision is a pair of pure steps that inference and training share:
`step_prompt(state, new_text) -> Chat` and `apply(state, output) -> new state`; `answer_prompt(state, q)`.
With `record_steps=True` every decision lands in `self.trace` as a PolicyStep (policy, prompt, output),
and `temperature` lets a trainer sample groups of outputs through the same path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Sequence

from comam_bench.api import Answer, Chat, Message, MemorySystem, Question, Resources
from comam_bench.budget import head_within, split_long
from comam_bench.protocol import as_likelihood_chat, memory_chat
from comam_bench.systems.base import answer_budget, recorded_args

PROMPT_VERSION = "mem1-state-v1"

STATE_SYSTEM = (
    "You are the memory of a personal assistant. You cannot keep the conversation itself: after this step "
    "the new conversation text below is discarded, and your internal state is the only information you "
    "will have later to answer questions about this user.\n"
    "Rewrite the internal state so that it merges the previous state with the new text. Keep what matters "
    "for personalised answers: facts and events the user shared, their preferences (likes and dislikes), "
    "how each preference changed over time and the reasons they gave, in order. Drop small talk and "
    "anything unrelated to the user. Use at most {budget} words.\n"
    "Write the new internal state between <{tag}> and </{tag}>, and nothing else."
)

_SPEAKER = re.compile(r"^\s*\w[\w ]{0,24}:")


@dataclass(frozen=True)
class PolicyStep:
    """One policy decision as a trainer needs it: the policy, the exact prompt and the text produced."""

    policy: str
    prompt: Chat
    output: str
    info: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Chunk:
    """Consecutive messages consolidated together; `session` counts session starts seen so far (0-based)."""

    session: int
    messages: tuple[Message, ...]


def render_turns(messages: Sequence[Message]) -> str:
    """Message contents one per line; contents keep PersonaMem's "User: "/"Assistant: " prefixes, so the
    role is only added where a content has no speaker prefix of its own."""
    lines = []
    for m in messages:
        text = m.content.strip()
        lines.append(text if _SPEAKER.match(text) else f"{m.role.capitalize()}: {text}")
    return "\n".join(lines)


class SessionChunker:
    """Groups incoming messages into chunks: a chunk closes at the next session start (a system message)
    or before it would pass `limit` tokens; `flush()` closes the open chunk early (at answer time).

    A single message longer than `limit` is split at spaces into several messages of the same role.
    """

    def __init__(self, limit: int, count: Callable[[str], int]) -> None:
        self.limit = max(limit, 2)
        self.count = count
        self.session = -1
        self.open: list[Message] = []
        self.tokens = 0

    def add(self, messages: Sequence[Message]) -> list[Chunk]:
        """Take new messages in order; return the chunks they closed."""
        closed: list[Chunk] = []
        for m in messages:
            if m.role == "system":
                closed.extend(self._close())
                self.session += 1
            for piece in self._pieces(m):
                n = self.count(piece.content) + 1
                if self.open and self.tokens + n > self.limit:
                    closed.extend(self._close())
                self.open.append(piece)
                self.tokens += n
        return closed

    def flush(self) -> Chunk | None:
        """Close the open chunk, if any (the open session is consolidated before answering)."""
        closed = self._close()
        return closed[0] if closed else None

    def _pieces(self, m: Message) -> list[Message]:
        if self.count(m.content) + 1 <= self.limit:
            return [m]
        return [Message(m.role, p) for p in split_long(m.content, self.limit - 1, self.count)]

    def _close(self) -> list[Chunk]:
        if not self.open:
            return []
        chunk = Chunk(max(self.session, 0), tuple(self.open))
        self.open, self.tokens = [], 0
        return [chunk]


def parse_tagged(text: str, tag: str) -> tuple[str, str | None]:
    """The last complete <tag>...</tag> block of `text`, stripped, and the problem met (None if none).

    Problems: "unclosed" (cut off by the token limit: the text after the last opening tag) and
    "tag_missing" (no opening tag: the whole output).
    """
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", text, re.S)
    if blocks:
        return blocks[-1].strip(), None
    if f"<{tag}>" in text:
        return text.rsplit(f"<{tag}>", 1)[1].replace(f"</{tag}>", "").strip(), "unclosed"
    return text.replace(f"</{tag}>", "").strip(), "tag_missing"


class Mem1(MemorySystem):
    """One internal state of at most `max_state_tokens`, rewritten from (previous state, new chunk)."""

    name = "mem1"
    description = "one bounded internal state rewritten chunk by chunk (MEM1-style consolidation)"
    trainable = True
    open_ended = True  # answers through the shared answer chat (memory_chat), which asks open-ended questions as such
    policies: ClassVar[tuple[str, ...]] = ("state", "answer")

    def __init__(self, resources: Resources, max_state_tokens: int = 256, chunk_tokens: int = 1536,
                 state_tag: str = "think", state_new_tokens: int | None = None, answer_tokens: int = 64,
                 temperature: float = 0.0, record_steps: bool = False, **kwargs: Any) -> None:
        super().__init__(resources, **kwargs)
        self.max_state_tokens = max_state_tokens
        self.chunk_tokens = chunk_tokens
        self.state_tag = str(state_tag)
        # room for the tags and a little overrun, which `apply` then truncates (counted)
        self.state_new_tokens = state_new_tokens or self.max_state_tokens + 32
        self.answer_tokens = answer_tokens
        self.temperature = temperature
        self.record_steps = record_steps
        self.reset("")

    # ------------------------------------------------------------------ harness interface
    def reset(self, context_id: str) -> None:
        self.state = ""
        self.chunker: SessionChunker | None = None  # built on first use: needs the LLM's tokenizer
        self.trace: list[PolicyStep] = []
        self.steps = 0

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        for chunk in self._chunker().add(messages):
            self.consolidate(chunk)

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        pending = self._chunker().flush()
        if pending is not None:  # once per position: later questions here find nothing pending
            self.consolidate(pending)
        chats = [self.answer_prompt(self.state, q) for q in questions]
        gens = self._generate(chats, self.answer_tokens, "answer")
        if self.record_steps:
            self.trace.extend(PolicyStep("answer", c, g.text, {"question": q.id})
                              for c, g, q in zip(chats, gens, questions))
        return [Answer(g.text, chat, {"state_tokens": self._tokens(self.state)}) for g, chat in zip(gens, chats)]

    def likelihood_answer(self, questions: Sequence[Question]) -> list[Answer]:
        """The state written so far (the open chunk folded in first) is the memory the options are scored after."""
        pending = self._chunker().flush()
        if pending is not None:
            self.consolidate(pending)
        return [Answer("", as_likelihood_chat(self.answer_prompt(self.state, q), q),
                       {"state_tokens": self._tokens(self.state)}) for q in questions]

    def memory_stats(self) -> dict[str, int]:
        return {"items": int(bool(self.state)), "tokens": self._tokens(self.state) if self.state else 0}

    def config(self) -> dict[str, Any]:
        return {**recorded_args(self), "prompt_version": PROMPT_VERSION}

    # ------------------------------------------------------------------ policy "state"
    def step_prompt(self, state: str, new_text: str) -> Chat:
        """The exact chat for one state update: instructions, the previous state, the new text."""
        tag = self.state_tag
        previous = state if state else "(empty: this is the start of the conversation)"
        user = (f"Previous internal state:\n<{tag}>\n{previous}\n</{tag}>\n\n"
                f"New conversation text:\n{new_text}\n\nWrite the new internal state.")
        return [{"role": "system", "content": STATE_SYSTEM.format(budget=self.max_state_tokens, tag=tag)},
                {"role": "user", "content": user}]

    def apply(self, state: str, output: str) -> str:
        """The state after one update: the tagged block of `output`, bounded; malformed output falls back
        (whole output without tags; previous state if empty) and is counted."""
        body, problem = parse_tagged(output, self.state_tag)
        if problem:
            self.resources.count(f"mem1_state_{problem}")
        if not body:
            self.resources.count("mem1_state_empty")
            return state
        if self._tokens(body) > self.max_state_tokens:
            self.resources.count("mem1_state_truncated")
            body = head_within(body, self.max_state_tokens, self._tokens)
        return body

    def consolidate(self, chunk: Chunk) -> str:
        """Run one "state" step on a chunk and keep the result as the current state."""
        chat = self.step_prompt(self.state, render_turns(chunk.messages))
        output = self._generate([chat], self.state_new_tokens, "state")[0].text
        self.state = self.apply(self.state, output)
        self.steps += 1
        if self.record_steps:
            self.trace.append(PolicyStep("state", chat, output, {"session": chunk.session}))
        return self.state

    # ------------------------------------------------------------------ policy "answer"
    def answer_prompt(self, state: str, question: Question) -> Chat:
        """The standard answer chat with the state as the only memory (cut to the window if it must be)."""
        budget = max(answer_budget(self.llm, question, self.answer_tokens), 0)
        if state and self._tokens(state) > budget:
            self.resources.count("memory_truncated_to_window")
            state = head_within(state, budget, self._tokens)
        return memory_chat(state, question)

    # ------------------------------------------------------------------ helpers
    def _generate(self, chats: list[Chat], max_new_tokens: int, policy: str):
        return self.llm.generate(chats, max_new_tokens=max_new_tokens, temperature=self.temperature,
                                 seed=self.resources.seed, agent=policy)

    def _tokens(self, text: str) -> int:
        return self.llm.count_tokens(text)

    def _chunker(self) -> SessionChunker:
        """Chunks no larger than the window allows once instructions, the state and the output fit."""
        if self.chunker is None:
            overhead = self._tokens(STATE_SYSTEM) + 64
            room = self.llm.context_window - overhead - self.max_state_tokens - self.state_new_tokens
            limit = min(self.chunk_tokens, room)
            if limit < self.chunk_tokens:
                self.resources.count("mem1_chunk_limited_by_window")
            self.chunker = SessionChunker(limit, self._tokens)
        return self.chunker
