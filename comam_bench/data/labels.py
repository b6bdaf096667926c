"""One table from every question_type label seen in PersonaMem files to the seven canonical types.

PersonaMem's files disagree on label spelling: the generator's internal names (pre-release CSVs),
the released names, and a few variants. Every label maps through LABEL_TO_CANONICAL; a label that is
not in it is an error, because guessing would silently move rows between the per-type accuracies.
"""
from __future__ import annotations

from comam_bench.api import QUESTION_TYPES
from comam_bench.errors import ComamBenchError

# The 32k ambiguity (personamem.md): the 32k release has 129 rows labelled `recall_user_shared_facts`,
# 17 labelled `recalling_facts_mentioned_by_the_user`, and none labelled as type 3
# (acknowledge_latest_preferences). The 129 rows read like type 3 (the options state the user's latest
# like/dislike), so the release probably renamed `recalling_the_latest_user_preferences` wrongly. That is
# an inference, not confirmed upstream, so we map by label only: `recall_user_shared_facts` stays type 1,
# and 32k per-type results for types 1 and 3 must be read with this in mind. Question.raw_type keeps the
# label as written, so a report can still split the 129 from the 17.
LABEL_TO_CANONICAL: dict[str, str] = {
    # canonical names (the 32k release uses most of them) map to themselves
    **{name: name for name in QUESTION_TYPES},
    # 1. recall_user_shared_facts
    "recalling_facts_mentioned_by_the_user": "recall_user_shared_facts",  # generator name; also 17 rows of 32k
    # 2. suggest_new_ideas
    "identifying_new_things_not_mentioned_by_the_user": "suggest_new_ideas",
    # 3. acknowledge_latest_preferences
    "recalling_the_latest_user_preferences": "acknowledge_latest_preferences",  # generator name (upstream's own map)
    "acknowledge_latest_user_preferences": "acknowledge_latest_preferences",
    # 4. track_full_preference_evolution
    "tracking_the_full_sequence_of_preference_updates": "track_full_preference_evolution",
    "track_full_preference_updates": "track_full_preference_evolution",
    # 5. revisit_reasons_behind_preference_updates
    "recalling_the_reasons_behind_previous_updates": "revisit_reasons_behind_preference_updates",
    # 6. provide_preference_aligned_recommendations
    "recommendation_aligned_with_users_latest_preferences": "provide_preference_aligned_recommendations",
    # 7. generalize_to_new_scenarios
    "generalizing_past_reasons_in_memory_to_new_scenarios": "generalize_to_new_scenarios",
    "generalizing_to_new_scenarios": "generalize_to_new_scenarios",
}


class UnknownLabelError(ComamBenchError, ValueError):
    """A question_type label that is not in LABEL_TO_CANONICAL."""

    def __init__(self, label: str, file: str = "") -> None:
        self.label = label
        self.file = file
        where = f" in {file}" if file else ""
        super().__init__(
            f"unknown question_type {label!r}{where}. Known labels: {', '.join(sorted(LABEL_TO_CANONICAL))}. "
            "If this is a new PersonaMem spelling, add it to comam_bench/data/labels.py:LABEL_TO_CANONICAL."
        )


def normalize_label(label: str) -> str:
    """The lookup key of a raw label: surrounding whitespace dropped (cells are otherwise taken as written)."""
    return label.strip()


def is_known(label: str) -> bool:
    """Whether a raw label maps to a canonical type."""
    return normalize_label(label) in LABEL_TO_CANONICAL


def canonical_type(label: str, file: str = "") -> str:
    """The canonical type of a raw label; raises UnknownLabelError naming the label and the file."""
    try:
        return LABEL_TO_CANONICAL[normalize_label(label)]
    except KeyError:
        raise UnknownLabelError(label, file) from None
