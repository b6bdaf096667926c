"""The states of CoMAM's MDP (comam.md: s0 = H, s1 = M_f, s2 = (M, q), s3 = (E'_q, p)) as plain dataclasses,
and what one agent step returns. A trainer builds, stores and scores these; nothing here calls a model.

Each state also carries the memory built so far (earlier sessions' entries and the profile), so the
same states drive both a one-session training trajectory and session-by-session construction.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Union

from comam_bench.api import Chat, Question
from comam_bench.comam.memory import Memory
from comam_bench.comam.prompts import FINAL_ANSWER_TAG


@dataclass(frozen=True)
class ExtractionState:
    """s0: the raw history H (a session, or a piece of one) for the extraction agent."""

    history: str
    memory: Memory = Memory()  # what earlier sessions left (their M_f entries and the profile)
    session: int = 0  # 0-based index of the session `history` belongs to
    question: Question | None = None  # carried along for the retrieval step


@dataclass(frozen=True)
class ProfileState:
    """s1: the new fine-grained memory M_f for the profile agent; `memory` already holds it as an entry,
    and `memory.profile` is the profile to update."""

    m_f: str
    memory: Memory = Memory()
    question: Question | None = None


@dataclass(frozen=True)
class RetrievalState:
    """s2: M = {M_f, M_c} and the query q (with its options) for the retrieval (or answer) agent."""

    memory: Memory
    question: Question | None = None


@dataclass(frozen=True)
class AnswerState:
    """s3: the retrieved evidence E'_q and the answer text p (the harness reads the option from it)."""

    text: str
    information: str | None  # None when the agent wrote no <information> (or there is no retrieval agent)
    final_answer: str | None  # the <final_answer> block's content, for inspection; never scored from here

    def likelihood_memory(self) -> tuple[str, bool]:
        """What the likelihood protocol scores the options after: the <information> evidence, or, when the
        agent wrote none, its whole reply before any <final_answer> (True: untagged, to be counted)."""
        if self.information is not None:
            return self.information, False
        return self.text.split(f"<{FINAL_ANSWER_TAG}>")[0].strip(), True


State = Union[ExtractionState, ProfileState, RetrievalState, AnswerState]


@dataclass
class StepResult:
    """One agent decision: the exact prompt, the sampled text, what it contributes, and the next state."""

    agent: str  # extraction | profile | retrieval | answer
    state: State  # the input state
    prompt: Chat
    text: str  # the raw sampled completion (the action)
    output: str  # its contribution after parsing: M_f, M_c, E'_q, or the answer text
    next_state: State
    prompt_tokens: int = 0
    completion_tokens: int = 0
    problems: tuple[str, ...] = ()  # recovered problems (also counted as comam_<problem>)
    info: dict[str, Any] = field(default_factory=dict)
    prompt_ids: list[int] | None = None  # the sample's token ids, where the backend gives them (hf): what
    completion_ids: list[int] | None = None  # a trainer computes log-probabilities of
    logprobs: list[float] | None = None  # the sampler's log-probability of each completion id, where given
    finish_reason: str | None = None  # "stop" or "length", where the backend says


@dataclass
class Trajectory:
    """One full pass through the active agents for one (H, q): the unit a GRPO group is made of."""

    steps: list[StepResult] = field(default_factory=list)

    def step(self, agent: str) -> StepResult | None:
        """The step an agent took in this trajectory (None when the agent is ablated)."""
        return next((s for s in self.steps if s.agent == agent), None)

    @property
    def final(self) -> AnswerState:
        state = self.steps[-1].next_state
        if not isinstance(state, AnswerState):
            raise ValueError("this trajectory stops before the answer")
        return state
