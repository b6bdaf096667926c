"""Synthetic PersonaMem: small, deterministic data in the exact release schema, for tests and quick runs.

`generate(out_dir, preset, seed)` writes questions_<preset>.csv and shared_contexts_<preset>.jsonl exactly
as the release (docs/personamem.md), plus evidence_<preset>.jsonl with the gold evidence message indices
(kept out of the CSV so its schema stays exact). The same preset and seed give byte-identical files: all
randomness comes from one random.Random, nothing reads the clock or hash() of a str.

Presets match the real data's sessions per context (32k: 10, 128k: 20, 1m: 60); their token counts are far
smaller than the names say. "mini" is sized so a 135M model with an 8k window reads every context whole.

Distance fields, per question (upstream does not document its exact definitions; these are ours):
  context_length_in_tokens / _letters   tokens / characters of the message contents of context[:end_index]
  distance_to_ref_in_tokens             tokens from the last gold evidence message to the end index
  distance_to_ref_in_blocks             sessions between that evidence message and the question
                                        (0: same session); i.e. persona messages in between
  num_irrelevant_tokens                 tokens of the unrelated Q&A chats inside the prefix
Files are byte-stable for a given Python version; random's algorithms are not promised across versions.
"""
from __future__ import annotations

import csv
import datetime as dt
import functools
import hashlib
import json
import random
import re
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from comam_bench.data.synthetic import vocab as V
from comam_bench.data.synthetic.questions import Ctx, Item, make_questions
from comam_bench.data.synthetic.sessions import Msg, assemble
from comam_bench.data.synthetic.state import state_at
from comam_bench.data.synthetic.story import Persona, make_history, make_persona

CSV_COLUMNS = (
    "persona_id", "question_id", "question_type", "topic", "context_length_in_tokens",
    "context_length_in_letters", "distance_to_ref_in_blocks", "distance_to_ref_in_tokens",
    "num_irrelevant_tokens", "distance_to_ref_proportion_in_context", "user_question_or_message",
    "correct_answer", "all_options", "shared_context_id", "end_index_in_shared_context",
)
# Bump when the same (preset, seed) would produce different files, so caches keyed on it can be renewed.
GENERATOR_VERSION = 1
# Token counts use this approximation, not a model tokenizer (upstream used gpt-4o's): one token per
# run of word characters and one per other non-space character.
TOKENIZER = r"regex \w+|[^\w\s]"
_TOKEN_RE = re.compile(r"\w+|[^\w\s]")
FIRST_DATE = dt.date(2023, 1, 2)  # histories start within ~600 days of this


@dataclass(frozen=True)
class Preset:
    contexts: int
    sessions: int  # per context: one per topic per period
    topics: int  # per context; sessions are spread over them, 2 to 4 periods each
    per_type: int  # questions of each of the 7 types per context
    irrelevant: bool  # unrelated Q&A chats after each persona message, as upstream's 128k and 1M
    brief: bool = False  # sessions of stance turns only, the persona message a name (sessions.py)


PRESETS = {
    "mini": Preset(contexts=2, sessions=4, topics=2, per_type=2, irrelevant=False),
    "32k": Preset(contexts=4, sessions=10, topics=3, per_type=4, irrelevant=False),
    "128k": Preset(contexts=3, sessions=20, topics=6, per_type=6, irrelevant=True),
    "1m": Preset(contexts=2, sessions=60, topics=15, per_type=10, irrelevant=True),
    # for RL on CPU: short sessions so a step takes seconds; more contexts for more distinct questions
    "train": Preset(contexts=12, sessions=6, topics=3, per_type=2, irrelevant=False, brief=True),
    # the CPU leaderboard (tasks/synthetic-cpu.yaml): one history per seed of 60 sessions, every topic, about
    # twice SmolLM2's 8,192-token window, and 105 questions on it; sized by benchmarks/cost_model.py
    "cpu": Preset(contexts=1, sessions=60, topics=15, per_type=15, irrelevant=False),
}


@dataclass
class Context:
    """One generated shared context with its persona and questions."""

    persona: Persona
    msgs: list[Msg]
    items: list[Item]

    @property
    def dicts(self) -> list[dict[str, str]]:
        return [m.as_dict() for m in self.msgs]

    @property
    def id(self) -> str:
        return context_id(self.dicts)


def count_tokens(text: str) -> int:
    """Approximate token count (see TOKENIZER)."""
    return len(_TOKEN_RE.findall(text))


def context_id(messages: list[dict]) -> str:
    """shared_context_id as upstream: sha256 of the space-joined str() (dict repr) of each message."""
    return hashlib.sha256(" ".join(map(str, messages)).encode("utf-8")).hexdigest()


def periods_per_topic(preset: Preset) -> list[int]:
    """Spread the sessions over the topics: each topic gets 2 to 4 periods, earlier topics the extras."""
    base, extra = divmod(preset.sessions, preset.topics)
    counts = [base + (i < extra) for i in range(preset.topics)]
    if not all(2 <= c <= 4 for c in counts):
        raise ValueError(f"preset needs 2-4 periods per topic, got {counts}")
    return counts


def build_context(rng: random.Random, preset: Preset, pid: int) -> Context:
    """A persona, its topic histories, the assembled sessions and the questions asked along them."""
    persona = make_persona(rng, pid)
    topics = rng.sample(sorted(V.TOPICS), preset.topics)
    base = FIRST_DATE + dt.timedelta(days=rng.randint(0, 600))
    histories = {t: make_history(rng, persona, t, n, base) for t, n in zip(topics, periods_per_topic(preset))}
    msgs = assemble(rng, persona, histories, preset.irrelevant, preset.brief)
    items = make_questions(rng, Ctx(persona, msgs, state_at(msgs, len(msgs))), preset.per_type)
    return Context(persona, msgs, items)


def build(preset: str = "mini", seed: int = 0) -> list[Context]:
    """Every context of a preset, in memory (generate() writes them). Deterministic in (preset, seed)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
    # A str seed is hashed with sha512 by random.Random: stable across runs and PYTHONHASHSEED.
    rng = random.Random(f"comam-bench-synthetic/{preset}/{int(seed)}")
    return [build_context(rng, PRESETS[preset], pid) for pid in range(PRESETS[preset].contexts)]


def question_row(rng: random.Random, ctx: Context, item: Item, cid: str, tokens: list[int]) -> list:
    """One CSV row; distances run from the last gold evidence message to the end index (module docstring)."""
    end, ref = item.end_index, max(item.evidence)
    prefix_tokens = sum(tokens[:end])
    distance = sum(tokens[ref:end])
    irrelevant = sum(t for t, m in zip(tokens[:end], ctx.msgs) if m.irrelevant)
    blocks = ctx.msgs[end - 1].session - ctx.msgs[ref].session
    return [
        ctx.persona.id, str(uuid.UUID(int=rng.getrandbits(128), version=4)), item.qtype, item.topic,
        prefix_tokens, sum(len(m.content) for m in ctx.msgs[:end]), blocks, distance, irrelevant,
        f"{100 * distance / prefix_tokens:.2f}%", item.text, item.options.gold, item.options.raw, cid, end,
    ]


def generate(out_dir: str | Path, preset: str = "mini", seed: int = 0) -> dict[str, Path]:
    """Write questions_<preset>.csv, shared_contexts_<preset>.jsonl and evidence_<preset>.jsonl to out_dir.

    Returns {"questions": path, "contexts": path, "evidence": path}.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    contexts = build(preset, seed)
    id_rng = random.Random(f"comam-bench-synthetic-ids/{preset}/{int(seed)}")
    paths = {"questions": out / f"questions_{preset}.csv", "contexts": out / f"shared_contexts_{preset}.jsonl",
             "evidence": out / f"evidence_{preset}.jsonl"}
    with open(paths["questions"], "w", encoding="utf-8", newline="") as fq, \
            open(paths["contexts"], "w", encoding="utf-8", newline="\n") as fc, \
            open(paths["evidence"], "w", encoding="utf-8", newline="\n") as fe:
        writer = csv.writer(fq, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for ctx in contexts:
            cid, tokens = ctx.id, [count_tokens(m.content) for m in ctx.msgs]
            fc.write(json.dumps({cid: ctx.dicts}, ensure_ascii=False) + "\n")
            for item in ctx.items:
                row = question_row(id_rng, ctx, item, cid, tokens)
                writer.writerow(row)
                fe.write(json.dumps({"question_id": row[1], "evidence": list(item.evidence)}) + "\n")
    return paths


@functools.lru_cache(maxsize=None)
def file_hashes(preset: str, seed: int) -> dict[str, str]:
    """sha256 of each file `generate(..., preset, seed)` writes, by file name (generated in a temporary folder).

    Lets a reader check that a run's data is exactly this generator's for a seed (the leaderboard then
    counts that data as part of the seed); a changed generator or Python simply no longer matches."""
    with tempfile.TemporaryDirectory(prefix="comam-synthetic-") as tmp:
        paths = generate(tmp, preset, seed)
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths.values()}


if __name__ == "__main__":  # python -m comam_bench.data.synthetic OUT_DIR [PRESET] [SEED]
    import sys

    args = sys.argv[1:]
    if not args:
        sys.exit("usage: python -m comam_bench.data.synthetic OUT_DIR [PRESET] [SEED]")
    written = generate(args[0], *(args[1:2] or ["mini"]), *(int(a) for a in args[2:3]))
    print("\n".join(f"{k}: {v}" for k, v in written.items()))
