"""What the user has said so far: the preference state after a context prefix.

Questions are built against the state at their end index, so "latest" always means latest within
context[:end_index], and every gold evidence index is below the end index by construction.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from comam_bench.data.synthetic import vocab as V
from comam_bench.data.synthetic.sessions import Msg
from comam_bench.data.synthetic.story import Step


@dataclass
class Activity:
    """One activity's stated stances in order, with the message index of each statement."""

    name: str
    topic: str
    steps: list[tuple[Step, int]] = field(default_factory=list)

    @property
    def stance(self) -> str:
        return self.steps[-1][0].stance

    @property
    def companion(self) -> str | None:
        return self.steps[0][0].companion

    @property
    def updates(self) -> list[tuple[Step, int]]:
        return [(s, i) for s, i in self.steps if s.reason is not None]

    @property
    def last_index(self) -> int:
        return self.steps[-1][1]


State = dict[str, dict[str, Activity]]  # topic -> activity name -> Activity


def state_at(msgs: list[Msg], end: int) -> State:
    """The stances stated in msgs[:end], per topic and activity, in order of statement."""
    state: State = {}
    for i, m in enumerate(msgs[:end]):
        if m.step is None:
            continue
        acts = state.setdefault(m.step.topic, {})
        acts.setdefault(m.step.activity, Activity(m.step.activity, m.step.topic)).steps.append((m.step, i))
    return state


def updates_in(state: State) -> list[tuple[Step, int]]:
    """Every update (with its message index) in a state, in context order."""
    found = [u for acts in state.values() for a in acts.values() for u in a.updates]
    return sorted(found, key=lambda u: u[1])


def unmentioned(rng: random.Random, topic: str, full: State, k: int, group: str | None = None) -> list[str]:
    """k activities of a topic never mentioned anywhere in the context (sorted pool, seeded pick).

    With `group`, prefer activities stereotypically tied to that age group (the stereotype distractor).
    """
    said = full.get(topic, {})
    pool = [(a, g) for a, g in V.TOPICS[topic]["activities"] if a not in said]
    preferred = [a for a, g in pool if g == group]
    others = [a for a, g in pool if g != group]
    rng.shuffle(preferred)
    rng.shuffle(others)
    picked = (preferred + others)[:k]
    if len(picked) < k:
        raise ValueError(f"topic {topic!r} has fewer than {k} unmentioned activities")
    return picked
