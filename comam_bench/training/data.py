"""Training data as in the paper's Appendix B.1: for each training question, H is the single session that
holds its evidence, and E_q is the gold evidence; questions are split into train and validation.

Decisions where the paper is silent:
- Session boundaries are PersonaMem's "Current user persona" system messages (comam.memory.is_session_start).
- H is that session cut at the question's end index (a question never sees later messages), rendered with
  comam.memory.render_session, exactly as the memory system renders a session at evaluation.
- When the evidence spans several sessions (a third of the synthetic questions: preference updates cite an
  earlier statement), H is the session of the *last* evidence message and E_q its evidence messages there.
  The update message restates what changed, and the paper insists on a single session.
- E_q on synthetic data is exact (Question.evidence). The release has no evidence column, so it is located
  (`locate_evidence`): walk back from the end index summing approximate token counts until the sum reaches
  distance_to_ref_in_tokens. The release counted with gpt-4o's tokenizer, so the distance is first rescaled by
  context_length_in_tokens / our count of the same prefix (both measure context[:end_index]). A located
  message that is not the user's moves to the user message just before it (evidence is what the user said).
- Splits are seeded, by question (the paper's sizes for the releases are in PAPER_SPLITS) or by session.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

from comam_bench.api import Message, Question, TaskData
from comam_bench.comam.memory import is_session_start, render_session
from comam_bench.data.synthetic import count_tokens

CountTokens = Callable[[str], int]

# Appendix B.1 / Table 6: (train, validation) questions per release size.
PAPER_SPLITS = {"32k": (313, 100), "128k": (1744, 200), "1M": (1830, 200)}


@dataclass(frozen=True)
class Example:
    """One training question with its one-session history H and its evidence E_q."""

    question: Question
    history: str  # H, rendered as the memory system renders a session
    messages: tuple[Message, ...]  # the session's messages up to the end index
    session: int  # 0-based session index within the context
    evidence: tuple[str, ...]  # E_q: the evidence messages' contents
    evidence_indices: tuple[int, ...]  # their indices in the shared context
    exact: bool  # True: gold evidence; False: located from the distance field
    preferences: tuple[tuple[str, str], ...] = ()  # (activity, like|dislike) stated in H, where known (synthetic)


# --------------------------------------------------------------------------- sessions
def session_starts(messages: Sequence[Message]) -> list[int]:
    """Index of every session's first message (a context always starts a session at 0)."""
    starts = [i for i, m in enumerate(messages) if i == 0 or is_session_start(m)]
    return starts or [0]


def session_of(starts: Sequence[int], index: int) -> int:
    """The 0-based session that message `index` belongs to."""
    return max(k for k, s in enumerate(starts) if s <= index)


# --------------------------------------------------------------------------- evidence
def locate_evidence(messages: Sequence[Message], end_index: int, distance: int, *,
                    count: CountTokens = count_tokens, scale: float = 1.0, snap_to_user: bool = True) -> int | None:
    """The message `distance` tokens (times `scale`) before `end_index`, walking back.

    Returns the index i whose tail sum(tokens[i:end]) is closest to the target (the crossing message wins a
    tie), or None when the context or distance is unusable. With snap_to_user, a non-user message moves to
    the closest earlier user message of the same session."""
    end = min(int(end_index), len(messages))
    if end <= 0 or distance is None or distance < 0:
        return None
    target = distance * scale
    tail, best, best_gap = 0, None, None
    for i in range(end - 1, -1, -1):
        tail += count(messages[i].content)
        gap = abs(tail - target)
        if best_gap is None or gap <= best_gap:
            best, best_gap = i, gap
        if tail >= target:
            break
    if best is not None and snap_to_user:
        best = _snap_to_user(messages, best)
    return best


def _snap_to_user(messages: Sequence[Message], index: int) -> int:
    """The closest user message at or before `index` in the same session; `index` itself if none."""
    for i in range(index, -1, -1):
        if messages[i].role == "user":
            return i
        if is_session_start(messages[i]):
            break
    return index


def tokenizer_scale(question: Question, messages: Sequence[Message], count: CountTokens = count_tokens) -> float:
    """Our tokens per release token, from context_length_in_tokens (1.0 when the field is missing)."""
    theirs = question.extra.get("context_length_in_tokens")
    if not theirs:
        return 1.0
    ours = sum(count(m.content) for m in messages[:question.end_index])
    return ours / theirs if ours > 0 else 1.0


def evidence_of(question: Question, messages: Sequence[Message], source: str = "auto",
                count: CountTokens = count_tokens) -> tuple[tuple[int, ...], bool]:
    """(evidence message indices, exact?) for a question; empty when there is none to be had."""
    if source in ("auto", "gold") and question.evidence:
        return tuple(sorted(question.evidence)), True
    if source == "gold":
        return (), True
    found = locate_evidence(messages, question.end_index, question.distance_tokens, count=count,
                            scale=tokenizer_scale(question, messages, count))
    return ((found,) if found is not None else ()), False


# --------------------------------------------------------------------------- examples
def make_example(question: Question, messages: Sequence[Message], source: str = "auto",
                 count: CountTokens = count_tokens) -> Example | None:
    """The Appendix B.1 example for one question, or None when no evidence can be placed before its end."""
    indices, exact = evidence_of(question, messages, source, count)
    indices = tuple(i for i in indices if 0 <= i < min(question.end_index, len(messages)))
    if not indices:
        return None
    starts = session_starts(messages)
    session = session_of(starts, max(indices))
    begin = starts[session]
    stop = starts[session + 1] if session + 1 < len(starts) else len(messages)
    stop = min(stop, question.end_index)
    kept = tuple(i for i in indices if begin <= i < stop)
    session_msgs = tuple(messages[begin:stop])
    return Example(question, render_session(session_msgs), session_msgs, session,
                   tuple(messages[i].content for i in kept), kept, exact)


def build_examples(data: TaskData, source: str = "auto", max_history_tokens: int | None = None,
                   count: CountTokens = count_tokens) -> tuple[list[Example], dict[str, int]]:
    """Examples for every usable question of a task, and counts of what was dropped and why."""
    out: list[Example] = []
    dropped = {"no_evidence": 0, "history_too_long": 0}
    for q in data.questions:
        ex = make_example(q, data.contexts[q.context_id], source, count)
        if ex is None:
            dropped["no_evidence"] += 1
        elif max_history_tokens is not None and count(ex.history) > max_history_tokens:
            dropped["history_too_long"] += 1
        else:
            out.append(ex)
    return out, dropped


SPLIT_UNITS = ("question", "session")


def split_examples(examples: Sequence[Example], *, train: int | None = None, validation: int | None = None,
                   validation_fraction: float = 0.2, seed: int = 0, unit: str = "question",
                   ) -> tuple[list[Example], list[Example]]:
    """A seeded split: validation first from a shuffled order of units, then train from the rest.

    unit "question" shuffles questions; "session" shuffles whole sessions (context, session index) and
    takes sessions until the validation part holds at least its size, so no validation session is ever a
    training input: the extraction and profile agents never see the question, so a question split would
    score their "held-out" reward on training inputs. validation defaults to round(fraction x n) (at least
    1 when n > 1); train defaults to everything left."""
    if unit not in SPLIT_UNITS:
        raise ValueError(f"unknown split unit {unit!r}; one of {', '.join(SPLIT_UNITS)}")
    groups: dict[tuple, list[Example]] = {}
    for ex in examples:
        key = (ex.question.id,) if unit == "question" else (ex.question.context_id, ex.session)
        groups.setdefault(key, []).append(ex)
    order = list(groups.values())
    random.Random(f"comam-bench-train-split/{seed}").shuffle(order)
    n = len(examples)
    n_val = validation if validation is not None else max(int(round(validation_fraction * n)), int(n > 1))
    val: list[Example] = []
    while order and len(val) < min(n_val, n):
        val += order.pop(0)
    rest = [ex for group in order for ex in group]
    return (rest if train is None else rest[:train]), val


def load_split(recipe) -> tuple[list[Example], list[Example], dict[str, int | dict]]:
    """A recipe's training and validation examples, the one way every backend splits them: the task's
    examples (with the stances the generator wrote, for rewards.profile=preferences), the paper's
    Table 6 sizes for the releases, split by data.split_unit with data.split_seed (default: the seed)."""
    from comam_bench.data import load_task, resolve_spec
    from comam_bench.training.recipe import RecipeError

    d = recipe.data
    spec = resolve_spec(d.task)
    examples, dropped = build_examples(load_task(spec, d.data_dir), d.evidence, d.max_history_tokens)
    if recipe.rewards.profile == "preferences":
        from comam_bench.comam.training.preferences import with_preferences

        examples = with_preferences(examples, spec)
    train_n, val_n = d.train, d.validation
    if train_n is None and val_n is None and spec.get("source") != "synthetic":
        train_n, val_n = paper_split(spec.get("size"))
    train, val = split_examples(examples, train=train_n, validation=val_n, validation_fraction=d.validation_fraction,
                                unit=d.split_unit, seed=recipe.seed if d.split_seed is None else d.split_seed)
    if not train:
        raise RecipeError(f"task {d.task!r} gives no training examples ({dropped})")
    return train, val, {"examples": len(examples), "dropped": dropped, "exact_evidence": sum(ex.exact for ex in examples)}


def paper_split(size: str | None) -> tuple[int | None, int | None]:
    """(train, validation) from Table 6 for a release size ("32k", "128k", "1M"), else (None, None)."""
    return PAPER_SPLITS.get(str(size), (None, None))


# --------------------------------------------------------------------------- measuring the locator
def locator_accuracy(data: TaskData, count: CountTokens = count_tokens, calibrate: bool = True,
                     snap_to_user: bool = True) -> dict[str, float]:
    """How often locate_evidence finds the last gold evidence message, on data where it is known.

    `count` may differ from the tokenizer the distances were written with, to mimic the release's gpt-4o
    counts; `calibrate` rescales by context_length_in_tokens as make_example does."""
    hits = near = n = 0
    for q in data.questions:
        if not q.evidence or q.distance_tokens is None:
            continue
        msgs = data.contexts[q.context_id]
        scale = tokenizer_scale(q, msgs, count) if calibrate else 1.0
        found = locate_evidence(msgs, q.end_index, q.distance_tokens, count=count, scale=scale,
                                snap_to_user=snap_to_user)
        truth = max(q.evidence)
        n += 1
        hits += found == truth
        near += found is not None and abs(found - truth) <= 2
    return {"questions": n, "exact": hits / n if n else 0.0, "within_2": near / n if n else 0.0}
