"""The seven PersonaMem question types, built against the preference state at an end index.

Distractor design (why no option-only heuristic should beat chance): four options share one template.
Recall, acknowledge, track and generalize use a 2x2 design, {right subject, other subject} x {right
attribute, wrong attribute}: every option shares one slot with each of two others and nothing with the
fourth, so the right one is never the "centroid" of perturbed copies. Suggest, revisit and recommend vary
one slot drawn from a single pool. Questions name the topic (or a slot all four options share), never the
distinguishing slot, so word overlap with the question is symmetric too.
Each builder returns None when the prefix cannot support its type (e.g. no update yet).
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable

from comam_bench.api import QUESTION_TYPES
from comam_bench.data.synthetic import templates as T
from comam_bench.data.synthetic import vocab as V
from comam_bench.data.synthetic.options import FILLER_SLOT, Options, finish
from comam_bench.data.synthetic.sessions import Msg
from comam_bench.data.synthetic.state import Activity, State, state_at, unmentioned, updates_in
from comam_bench.data.synthetic.story import Persona, Reason, voiced

FLIP = {"like": "dislike", "dislike": "like"}
MAX_POSITIONS = 60  # end indices tried per question before giving up on that question


@dataclass(frozen=True)
class Item:
    """A generated question with its gold evidence (message indices and the activity each one states)."""

    qtype: str
    topic: str
    text: str
    options: Options
    end_index: int
    evidence: tuple[int, ...]
    evidence_acts: tuple[str, ...]


@dataclass
class Ctx:
    """What every builder may read: the persona, the whole context and its final state."""

    persona: Persona
    msgs: list[Msg]
    full: State  # the state after the whole context: what is "never mentioned"


def _stem(qtype: str, **slots: str) -> str:
    return T.OPTIONS[qtype].format(filler=FILLER_SLOT, **slots)


def _question(rng: random.Random, qtype: str, **slots: str) -> str:
    return rng.choice(T.QUESTIONS[qtype]).format(**slots)


def _item(rng, qtype, topic, stems, end, evidence: list[tuple[int, str]], **slots) -> Item:
    ev = sorted(set(evidence))
    return Item(qtype, topic, _question(rng, qtype, label=V.TOPICS[topic]["label"], **slots),
                finish(rng, stems), end, tuple(i for i, _ in ev), tuple(a for _, a in ev))


def _updated(st: State) -> list[Activity]:
    return [a for t in sorted(st) for a in st[t].values() if a.updates]


# --------------------------------------------------------------------------- builders
def recall_facts(rng: random.Random, ctx: Ctx, st: State, end: int) -> Item | None:
    """Right: the activity with the companion the user named. 2x2: {A, B} x {A's companion, another}."""
    acts = [a for t in sorted(st) for a in st[t].values()]
    if not acts:
        return None
    a = rng.choice(acts)
    others = [b for b in st[a.topic].values() if b.name != a.name]
    b = rng.choice(others) if others else None
    b_name = b.name if b else unmentioned(rng, a.topic, ctx.full, 1)[0]
    e = rng.choice([c for c in V.COMPANIONS if c not in (a.companion, b and b.companion)])
    stems = [_stem("recall_user_shared_facts", act=x, comp=voiced(c, "assistant"))
             for x, c in ((a.name, a.companion), (a.name, e), (b_name, a.companion), (b_name, e))]
    return _item(rng, "recall_user_shared_facts", a.topic, stems, end, [(a.steps[0][1], a.name)])


def suggest_new(rng: random.Random, ctx: Ctx, st: State, end: int) -> Item | None:
    """Right: an activity never mentioned; wrong: three the user already did."""
    topics = [t for t in sorted(st) if len(st[t]) >= 3]
    if not topics:
        return None
    topic = rng.choice(topics)
    done = rng.sample(sorted(st[topic]), 3)
    new = unmentioned(rng, topic, ctx.full, 1)[0]
    stems = [_stem("suggest_new_ideas", act=x) for x in [new, *done]]
    return _item(rng, "suggest_new_ideas", topic, stems, end, [(st[topic][x].steps[0][1], x) for x in done])


def acknowledge_latest(rng: random.Random, ctx: Ctx, st: State, end: int) -> Item | None:
    """Right: the latest stance on an updated activity. 2x2: {A, unmentioned B} x {latest, old stance}."""
    updated = _updated(st)
    if not updated:
        return None
    a = rng.choice(updated)
    b = unmentioned(rng, a.topic, ctx.full, 1)[0]
    phrase = {s: rng.choice(T.STANCE_PHRASES[s]) for s in ("like", "dislike")}
    now, old = a.stance, FLIP[a.stance]
    stems = [_stem("acknowledge_latest_preferences", stance=phrase[s], act=x)
             for x, s in ((a.name, now), (a.name, old), (b, now), (b, old))]
    return _item(rng, "acknowledge_latest_preferences", a.topic, stems, end, [(a.last_index, a.name)])


def _history(act: str, seq: list[str]) -> str:
    parts = [f"at first you {T.PAST[seq[0]]} {act}"]
    parts += [f"then you {T.PAST[s]} it" for s in seq[1:-1]]
    return ", ".join(parts + [f"and now you {T.PRESENT[seq[-1]]} it"])


def track_evolution(rng: random.Random, ctx: Ctx, st: State, end: int) -> Item | None:
    """Right: the whole stance sequence. 2x2: {A, B that never changed} x {sequence, reversed start}."""
    updated = _updated(st)
    if not updated:
        return None
    a = rng.choice(updated)
    steady = [b.name for b in st[a.topic].values() if not b.updates]
    b = rng.choice(steady) if steady else unmentioned(rng, a.topic, ctx.full, 1)[0]
    seq = [s.stance for s, _ in a.steps]
    wrong = [FLIP[s] for s in seq]
    stems = [_stem("track_full_preference_evolution", history=_history(x, q))
             for x, q in ((a.name, seq), (a.name, wrong), (b, seq), (b, wrong))]
    return _item(rng, "track_full_preference_evolution", a.topic, stems, end, [(i, a.name) for _, i in a.steps])


def _reason_distractors(rng: random.Random, ctx: Ctx, a: Activity, direction: str) -> list[str]:
    """Three reasons of the same direction: first from other updates in the context, then the persona's."""
    own = {s.reason.text("assistant") for s, _ in a.updates}
    others = sorted({s.reason.text("assistant") for s, _ in updates_in(ctx.full)
                     if s.reason.direction == direction and s.activity != a.name} - own)
    spare = sorted({Reason(t, ctx.persona.poles[t], direction).text("assistant")
                    for t in ctx.persona.usable_themes} - own - set(others))
    rng.shuffle(others)
    rng.shuffle(spare)
    return (others + spare)[:3]


def revisit_reasons(rng: random.Random, ctx: Ctx, st: State, end: int) -> Item | None:
    """Right: the reason of the latest update on an activity; wrong: reasons from other updates."""
    updated = _updated(st)
    if not updated:
        return None
    a = rng.choice(updated)
    step, idx = a.updates[-1]
    reasons = [step.reason.text("assistant"), *_reason_distractors(rng, ctx, a, step.reason.direction)]
    stems = [_stem("revisit_reasons_behind_preference_updates", act=a.name, reason=r) for r in reasons]
    return _item(rng, "revisit_reasons_behind_preference_updates", a.topic, stems, end, [(idx, a.name)],
                 act=a.name)


def recommend_aligned(rng: random.Random, ctx: Ctx, st: State, end: int) -> Item | None:
    """Right: an activity the user likes now; wrong: one disliked now, a demographic stereotype, and
    another disliked one (or another unmentioned one)."""
    topics = [t for t in sorted(st) if {a.stance for a in st[t].values()} == {"like", "dislike"}]
    if not topics:
        return None
    topic = rng.choice(topics)
    liked = rng.choice([a for a in st[topic].values() if a.stance == "like"])
    disliked = [a for a in st[topic].values() if a.stance == "dislike"]
    rng.shuffle(disliked)
    stereotype, spare = unmentioned(rng, topic, ctx.full, 2, group=ctx.persona.age_group)
    fourth = disliked[1].name if len(disliked) > 1 else spare
    stems = [_stem("provide_preference_aligned_recommendations", act=x)
             for x in (liked.name, disliked[0].name, stereotype, fourth)]
    evidence = [(liked.last_index, liked.name), (disliked[0].last_index, disliked[0].name)]
    return _item(rng, "provide_preference_aligned_recommendations", topic, stems, end, evidence)


def generalize_new(rng: random.Random, ctx: Ctx, st: State, end: int) -> Item | None:
    """Right: a trait behind a past update, transferred to a new scenario. 2x2: {theme T of a stated
    reason, theme U the persona never used} x {pole, opposite pole}."""
    ups = updates_in(st)
    if not ups or end != len(ctx.msgs):
        return None
    step, _ = rng.choice(ups)
    t, p = step.reason.theme, step.reason.pole
    u, q = rng.choice(ctx.persona.reserved_themes), rng.randrange(2)
    stems = [_stem("generalize_to_new_scenarios", **{k: V.THEMES[th][po][k] for k in ("trait", "advice")})
             for th, po in ((t, p), (t, 1 - p), (u, q), (u, 1 - q))]
    evidence = [(i, s.activity) for s, i in ups if s.reason.theme == t]
    return _item(rng, "generalize_to_new_scenarios", step.topic, stems, end, evidence,
                 scenario=rng.choice(T.SCENARIOS))


BUILDERS: dict[str, Callable[..., Item | None]] = dict(zip(QUESTION_TYPES, (
    recall_facts, suggest_new, acknowledge_latest, track_evolution, revisit_reasons, recommend_aligned,
    generalize_new)))
AT_END = {"generalize_to_new_scenarios"}  # asked at end of text, as upstream


# --------------------------------------------------------------------------- placement
def _positions(msgs: list[Msg]) -> list[int]:
    """Where a question may be asked: before any user utterance of the story (not in unrelated chats)."""
    return [i for i, m in enumerate(msgs) if i > 0 and m.role == "user" and not m.irrelevant]


def _key(item: Item) -> tuple:
    """Identity of a question for de-duplication: one per type, evidence and position (or scenario)."""
    where = item.text if item.qtype in AT_END else item.end_index
    return item.qtype, item.evidence, where


def _ask(rng: random.Random, ctx: Ctx, qtype: str, states: dict[int, State], seen: set) -> Item | None:
    """One new question of a type at a random feasible end index, or None if none was found."""
    positions = _positions(ctx.msgs)
    ends = [len(ctx.msgs)] * 8 if qtype in AT_END else rng.sample(positions, min(MAX_POSITIONS, len(positions)))
    for end in ends:
        if end not in states:
            states[end] = state_at(ctx.msgs, end)
        item = BUILDERS[qtype](rng, ctx, states[end], end)
        if item is not None and _key(item) not in seen:
            seen.add(_key(item))
            return item
    return None


def make_questions(rng: random.Random, ctx: Ctx, per_type: int) -> list[Item]:
    """per_type questions of every type, at random feasible positions; sorted by end index."""
    states: dict[int, State] = {}
    seen: set = set()
    asked = (_ask(rng, ctx, qtype, states, seen) for qtype in QUESTION_TYPES for _ in range(per_type))
    return sorted((item for item in asked if item is not None), key=lambda it: it.end_index)
