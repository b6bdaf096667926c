"""Personas and per-topic preference histories for the synthetic PersonaMem generator.

Follows upstream's recipe (docs/personamem.md, "How the data is generated"): a persona, then per topic
a dated history of events with a like or dislike, then later periods (next week / month / year) whose
updates flip a preference with a stated reason, each chained to the date of the statement it revises.
"""
from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from comam_bench.data.synthetic import vocab as V

PERIODS = ("init", "next week", "next month", "next year")
PERIOD_OFFSET_DAYS = (0, 7, 30, 365)
MAX_UPDATES = 3  # per activity, as upstream
INIT_EVENTS = 3  # events per topic in the first period: enough for suggest_new_ideas' 3 wrong options
RESERVED_THEMES = 2  # reason themes a persona never uses, so generalize distractors are surely false
VOICES = {
    "user": {"I": "I", "p": "my", "me": "me", "myself": "myself"},
    "assistant": {"I": "you", "p": "your", "me": "you", "myself": "yourself"},
}


def voiced(template: str, voice: str) -> str:
    """Fill the pronoun placeholders of a vocabulary string in the user's or the assistant's voice."""
    return template.format(**VOICES[voice])


@dataclass(frozen=True)
class Persona:
    """Who the user is; `poles` fixes one pole per reason theme so stated reasons never contradict."""

    id: int
    name: str
    age_group: str
    text: str  # the body of the "Current user persona: ..." system message
    poles: dict[str, int] = field(hash=False)
    usable_themes: tuple[str, ...]
    reserved_themes: tuple[str, ...]


@dataclass(frozen=True)
class Reason:
    """Why a preference flipped: a theme, the persona's pole on it, and the direction of the flip."""

    theme: str
    pole: int
    direction: str  # "neg" (turned to dislike) or "pos" (turned to like)

    def text(self, voice: str) -> str:
        return voiced(V.THEMES[self.theme][self.pole][self.direction], voice)


@dataclass(frozen=True)
class Step:
    """One statement of a stance on an activity: an event (with a companion) or an update (with a reason)."""

    topic: str
    activity: str
    stance: str  # "like" | "dislike"
    date: dt.date
    period: int
    companion: str | None = None  # events only, a COMPANIONS template
    reason: Reason | None = None  # updates only
    prev_date: dt.date | None = None  # updates: the date of the statement being revised
    prev_stance: str | None = None


def fmt_date(d: dt.date) -> str:
    """MM/DD/YYYY, as upstream's histories."""
    return d.strftime("%m/%d/%Y")


def age_group(age: int) -> str:
    return "young" if age < 30 else "middle" if age < 55 else "older"


def make_persona(rng: random.Random, pid: int) -> Persona:
    """A persona with name, gender, race and five sentences of background, all from the built-in lists."""
    gender = rng.choice(sorted(V.FIRST_NAMES))
    first = rng.choice(V.FIRST_NAMES[gender])
    name = f"{first} {rng.choice(V.LAST_NAMES)}"
    age = rng.randint(19, 75)
    sentences = [
        f"{first} is a {age}-year-old {rng.choice(V.OCCUPATIONS)} living in {rng.choice(V.CITIES)}.",
        *(rng.choice(pool).format(first=first) for pool in (V.BACKGROUNDS, V.ROUTINES, V.HOUSEHOLDS, V.GOALS)),
    ]
    text = (f"Name: {name}\nGender Identity: {gender}\nRacial Identity: {rng.choice(V.RACES)}\n\n"
            + " ".join(sentences))
    themes = list(V.THEMES)
    reserved = tuple(sorted(rng.sample(themes, RESERVED_THEMES)))
    poles = {t: rng.randrange(2) for t in themes}
    usable = tuple(t for t in themes if t not in reserved)
    return Persona(pid, name, age_group(age), text, poles, usable, reserved)


def _period_dates(rng: random.Random, base: dt.date, period: int, n: int) -> list[dt.date]:
    """n sorted dates inside a period's window, so statements within a session stay in order."""
    start = base + dt.timedelta(days=PERIOD_OFFSET_DAYS[period])
    return sorted(start + dt.timedelta(days=rng.randint(0, 5)) for _ in range(n))


def _pick_updates(rng: random.Random, latest: dict[str, Step], n_updates: dict[str, int]) -> list[str]:
    """One or two activities to flip; half the time prefer one already updated, to build chains."""
    eligible = sorted(a for a in latest if n_updates[a] < MAX_UPDATES)
    k = min(len(eligible), 2 if rng.random() < 0.4 else 1)
    chained = [a for a in eligible if n_updates[a] > 0]
    picks: list[str] = []
    if chained and rng.random() < 0.5:
        picks.append(rng.choice(chained))
    rest = [a for a in eligible if a not in picks]
    picks += rng.sample(rest, k - len(picks)) if k > len(picks) else []
    return picks


def make_history(rng: random.Random, persona: Persona, topic: str, n_periods: int,
                 base: dt.date) -> list[list[Step]]:
    """Steps of one topic, grouped by period: initial events, then updates (and one new event next month)."""
    pool = [a for a, _ in V.TOPICS[topic]["activities"]]
    acts = rng.sample(pool, INIT_EVENTS + 1)  # the last one is the next-month newcomer
    comps = rng.sample(V.COMPANIONS, INIT_EVENTS + 1)
    dates = _period_dates(rng, base, 0, INIT_EVENTS)
    periods = [[Step(topic, a, rng.choice(("like", "dislike")), d, 0, companion=c)
                for a, c, d in zip(acts, comps, dates)]]
    latest = {s.activity: s for s in periods[0]}
    n_updates = {a: 0 for a in latest}
    for p in range(1, n_periods):
        picks = _pick_updates(rng, latest, n_updates)
        dates = _period_dates(rng, base, p, len(picks) + 1)
        steps = []
        for act, d in zip(picks, dates):
            old = latest[act]
            new = "dislike" if old.stance == "like" else "like"
            theme = rng.choice(persona.usable_themes)
            reason = Reason(theme, persona.poles[theme], "neg" if new == "dislike" else "pos")
            steps.append(Step(topic, act, new, d, p, reason=reason, prev_date=old.date, prev_stance=old.stance))
            latest[act], n_updates[act] = steps[-1], n_updates[act] + 1
        if p == 2:  # next month: the user also picks up something new
            steps.append(Step(topic, acts[-1], rng.choice(("like", "dislike")), dates[-1], p, companion=comps[-1]))
            latest[acts[-1]], n_updates[acts[-1]] = steps[-1], 0
        periods.append(steps)
    return periods
