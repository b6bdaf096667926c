"""Render preference histories into sessions of messages and assemble them into a shared context.

A session is one topic in one period: the "Current user persona: ..." system message, optionally an
unrelated Q&A chat (128k and 1m presets, as upstream), then "User: ..." / "Assistant: ..." turns.
A brief session (the "train" preset, for RL on CPU) names the user only in its persona message and has no
small talk: the stance turns alone, so one session is a few dozen tokens per turn, not hundreds.
Messages carry the Step they state, so questions can later find their gold evidence by index.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from comam_bench.data.synthetic import templates as T
from comam_bench.data.synthetic import vocab as V
from comam_bench.data.synthetic.story import Persona, Step, fmt_date, voiced

PERSONA_PREFIX = "Current user persona: "


@dataclass(frozen=True)
class Msg:
    """A context message plus what the generator knows about it (never written to the files)."""

    role: str
    content: str
    session: int
    topic: str | None = None
    step: Step | None = None  # the stance this user message states, if any
    irrelevant: bool = False

    def as_dict(self) -> dict[str, str]:
        """The release form: exactly {"role", "content"}, in that key order (the id hashes its repr)."""
        return {"role": self.role, "content": self.content}


def step_text(rng: random.Random, step: Step) -> str:
    """The user's utterance stating a step: an event with its feeling, or a dated, chained update."""
    act = step.activity
    if step.reason is None:
        return rng.choice(T.EVENT).format(
            date=fmt_date(step.date), act=act, comp=voiced(step.companion, "user"),
            feeling=rng.choice(T.FEELING[step.stance]))
    return rng.choice(T.UPDATE).format(
        date=fmt_date(step.date), old_date=fmt_date(step.prev_date), old=T.PAST[step.prev_stance], act=act,
        new=T.PRESENT[step.stance], reason=step.reason.text("user"))


def _reply(rng: random.Random, step: Step) -> str:
    return rng.choice(T.REPLY_EVENT[step.stance] if step.reason is None else T.REPLY_UPDATE)


def render_session(rng: random.Random, persona: Persona, topic: str, steps: list[Step], session: int,
                   irrelevant: bool = False, brief: bool = False) -> list[Msg]:
    """One session: persona, optional unrelated chat, the steps as turn pairs, and small talk (not if brief)."""
    persona_text = persona.text.split("\n")[0] if brief else persona.text
    msgs = [Msg("system", PERSONA_PREFIX + persona_text, session, topic)]
    if irrelevant:
        for q, a in rng.sample(T.IRRELEVANT, 2):
            msgs += [Msg("user", f"User: {q}", session, None, irrelevant=True),
                     Msg("assistant", f"Assistant: {a}", session, None, irrelevant=True)]
    label = V.TOPICS[topic]["label"]
    pairs = [[Msg("user", "User: " + step_text(rng, s), session, topic, s),
              Msg("assistant", "Assistant: " + _reply(rng, s), session, topic)] for s in steps]
    for q, a in ([] if brief else rng.sample(T.CHAT, 1 if len(steps) >= 2 else 2)):
        # Small talk goes anywhere between the stance turns; the steps keep their order.
        pairs.insert(rng.randint(0, len(pairs)), [Msg("user", "User: " + q.format(label=label), session, topic),
                                                  Msg("assistant", "Assistant: " + a, session, topic)])
    for pair in pairs:
        msgs += pair
    return msgs


def session_order(rng: random.Random, n_periods: dict[str, int]) -> list[tuple[str, int]]:
    """(topic, period) in context order: by period, shuffled within a period.

    This respects each topic's period order and keeps dates moving forward across topics.
    """
    order = []
    for p in range(max(n_periods.values())):
        batch = [(t, p) for t in n_periods if p < n_periods[t]]
        rng.shuffle(batch)
        order += batch
    return order


def assemble(rng: random.Random, persona: Persona, histories: dict[str, list[list[Step]]],
             irrelevant: bool = False, brief: bool = False) -> list[Msg]:
    """The shared context: every (topic, period) session rendered in session_order."""
    msgs: list[Msg] = []
    order = session_order(rng, {t: len(h) for t, h in histories.items()})
    for session, (topic, period) in enumerate(order):
        msgs += render_session(rng, persona, topic, histories[topic][period], session, irrelevant, brief)
    return msgs
