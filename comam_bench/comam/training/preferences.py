"""The profile reward on synthetic data (recipe rewards.profile: preferences): graded coverage of the stances
the generator knows the user stated in H, beside the judge (Eq. 10).

At 135M the judge cannot tell a correct profile (.671) from off-topic nonsense (.679), so its reward is
noise. On synthetic data the truth is known: every stance turn of H states (activity, like|dislike). A
profile earns, per stated stance, the best over its units (lines) of
    coverage of the activity's content words x polarity (1 the same stance, 0.5 none stated, 0 the opposite)
and the reward is the mean over the stances of H (0 when H states none, or the profile is empty). The
truth comes from regenerating the task's contexts (deterministic in preset and seed) and matching the
stance turns' exact texts inside H, so a changed generator fails loudly instead of scoring wrongly.
"""
from __future__ import annotations

import re
from dataclasses import replace
from typing import Any, Sequence

from comam_bench.comam.training.rewards import units, words

Preference = tuple[str, str]  # (activity, "like" | "dislike")

_TOKEN = re.compile(r"[a-z']+")
LIKE = frozenset("like likes liked love loves loved enjoy enjoys enjoyed enjoying favorite favourite fond fan "
                 "highlight prefer prefers preferred appreciate appreciates wonderful great".split())
DISLIKE = frozenset("dislike dislikes disliked hate hates hated letdown avoid avoids avoided boring bored "
                    "disappointing disappointed unpleasant".split())
NEGATION = frozenset("not no never don't doesn't didn't isn't wasn't nor".split())


def polarity(text: str) -> str | None:
    """The stance a line states: dislike (a dislike word, or a like word negated), like, or None."""
    tokens = set(_TOKEN.findall(text.lower()))
    if tokens & DISLIKE or (tokens & LIKE and tokens & NEGATION):
        return "dislike"
    return "like" if tokens & LIKE else None


def preference_score(profile: str | None, preferences: Sequence[Preference]) -> float:
    """Mean over the stated stances of the best unit's activity coverage x polarity agreement."""
    lines = units(profile)
    if not lines or not preferences:
        return 0.0
    total = 0.0
    for activity, stance in preferences:
        wanted = words(activity)
        best = 0.0
        for line in lines:
            cover = len(wanted & words(line)) / len(wanted) if wanted else 0.0
            said = polarity(line)
            best = max(best, cover * (1.0 if said == stance else 0.5 if said is None else 0.0))
        total += best
    return total / len(preferences)


def with_preferences(examples: Sequence[Any], task_spec: dict[str, Any]) -> list[Any]:
    """`examples` with .preferences: the stances the generator wrote into each one's H (synthetic only)."""
    if task_spec.get("source") != "synthetic":
        raise ValueError(f"rewards.profile=preferences needs synthetic data, whose generator knows the stances; "
                         f"task {task_spec.get('name')!r} is {task_spec.get('source')!r}: use rewards.profile=judge")
    from comam_bench.data.synthetic import build

    stances = [(m.content, (m.step.activity, m.step.stance))
               for ctx in build(task_spec["preset"], int(task_spec.get("seed", 0))) for m in ctx.msgs if m.step]
    out = []
    for ex in examples:
        stated = sorted((ex.history.find(text), p) for text, p in stances if text in ex.history)
        found = tuple(dict((activity, stance) for _, (activity, stance) in stated).items())  # the last stance wins
        if not found and any(e in ex.history for e in ex.evidence):
            raise ValueError(f"question {ex.question.id}: no generator stance found in its session; the task's "
                             "files and today's generator differ (regenerate the data)")
        out.append(replace(ex, preferences=found))
    return out
