"""The synthetic PersonaMem generator: determinism, exact release schema, sound evidence, no option leakage."""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from comam_bench.api import QUESTION_TYPES
from comam_bench.data.synthetic import GENERATOR_VERSION, build, count_tokens, generate
from comam_bench.data.synthetic.options import balance, length_rank

RELEASE_COLUMNS = [
    "persona_id", "question_id", "question_type", "topic", "context_length_in_tokens",
    "context_length_in_letters", "distance_to_ref_in_blocks", "distance_to_ref_in_tokens",
    "num_irrelevant_tokens", "distance_to_ref_proportion_in_context", "user_question_or_message",
    "correct_answer", "all_options", "shared_context_id", "end_index_in_shared_context",
]
SESSIONS = {"mini": 4, "32k": 10, "128k": 20, "1m": 60}


@pytest.fixture(scope="module")
def mini(tmp_path_factory) -> dict[str, Path]:
    return generate(tmp_path_factory.mktemp("mini"), "mini", 0)


def _rows(path: Path) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _contexts(path: Path) -> dict[str, list[dict]]:
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        out.update(json.loads(line))
    return out


def _body(option: str) -> str:
    return option[4:]


def _gold_body(item) -> str:
    return _body(item.options.labelled["abcd".index(item.options.gold[1])])


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_and_other_seed_differs(tmp_path, mini):
    again = generate(tmp_path / "again", "mini", 0)
    other = generate(tmp_path / "other", "mini", 1)
    assert set(again) == {"questions", "contexts", "evidence"}
    for key in again:
        assert again[key].read_bytes() == mini[key].read_bytes(), key
        assert other[key].read_bytes() != mini[key].read_bytes(), key
    assert [p.name for p in again.values()] == ["questions_mini.csv", "shared_contexts_mini.jsonl",
                                                "evidence_mini.jsonl"]


def test_files_do_not_depend_on_the_str_hash_seed(tmp_path, mini):
    code = "import sys; from comam_bench.data.synthetic import generate; generate(sys.argv[1], 'mini', 0)"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True, env=env)
    for key, path in mini.items():
        assert (tmp_path / path.name).read_bytes() == path.read_bytes(), key


def test_output_changes_come_with_a_version_bump(mini):
    # Caches of generated files are keyed on (preset, seed): a change of the files must bump
    # GENERATOR_VERSION (then update the digest here) so stale caches can be told apart.
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in mini.values())).hexdigest()
    assert (GENERATOR_VERSION, digest[:16]) == (1, "d0e1f7bdfb207c0e")


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown preset"):
        generate(tmp_path, "64k", 0)


# --------------------------------------------------------------------------- schema
def test_questions_csv_has_the_exact_release_schema(mini):
    raw = mini["questions"].read_bytes()
    assert b"\r\n" not in raw and raw.decode("utf-8")
    with open(mini["questions"], encoding="utf-8", newline="") as f:
        assert next(csv.reader(f)) == RELEASE_COLUMNS
    contexts = _contexts(mini["contexts"])
    for row in _rows(mini["questions"]):
        options = ast.literal_eval(row["all_options"])
        assert str(options) == row["all_options"]  # str(list), as upstream
        assert len(options) == 4 and [o[:4] for o in options] == ["(a) ", "(b) ", "(c) ", "(d) "]
        assert len(set(options)) == 4 and all(isinstance(o, str) for o in options)
        assert row["correct_answer"] in {"(a)", "(b)", "(c)", "(d)"}
        assert row["question_type"] in QUESTION_TYPES
        assert 0 < int(row["end_index_in_shared_context"]) <= len(contexts[row["shared_context_id"]])
        assert re.fullmatch(r"\d+\.\d\d%", row["distance_to_ref_proportion_in_context"])
        for col in ("persona_id", "context_length_in_tokens", "context_length_in_letters",
                    "distance_to_ref_in_blocks", "distance_to_ref_in_tokens", "num_irrelevant_tokens"):
            assert int(row[col]) >= 0, col


def test_contexts_jsonl_lines_and_ids_follow_upstream(mini):
    for line in mini["contexts"].read_text(encoding="utf-8").splitlines():
        obj = json.loads(line)
        assert json.dumps(obj, ensure_ascii=False) == line
        (cid, messages), = obj.items()
        assert cid == hashlib.sha256(" ".join(map(str, messages)).encode("utf-8")).hexdigest()
        for m in messages:
            assert list(m) == ["role", "content"]
            prefix = {"system": "Current user persona: ", "user": "User: ", "assistant": "Assistant: "}[m["role"]]
            assert m["content"].startswith(prefix)


def test_evidence_file_matches_questions_and_precedes_the_end_index(mini):
    rows = _rows(mini["questions"])
    evidence = [json.loads(line) for line in mini["evidence"].read_text(encoding="utf-8").splitlines()]
    assert [e["question_id"] for e in evidence] == [r["question_id"] for r in rows]
    contexts = _contexts(mini["contexts"])
    for row, ev in zip(rows, evidence):
        end, ctx = int(row["end_index_in_shared_context"]), contexts[row["shared_context_id"]]
        assert ev["evidence"] and all(0 <= i < end for i in ev["evidence"])
        assert all(ctx[i]["role"] == "user" for i in ev["evidence"])
        ref = max(ev["evidence"])
        # Blocks: sessions between evidence and question, counted independently from persona messages.
        assert int(row["distance_to_ref_in_blocks"]) == sum(
            m["content"].startswith("Current user persona:") for m in ctx[ref + 1:end])
        distance = sum(count_tokens(m["content"]) for m in ctx[ref:end])
        total = sum(count_tokens(m["content"]) for m in ctx[:end])
        assert (int(row["distance_to_ref_in_tokens"]), int(row["context_length_in_tokens"])) == (distance, total)
        assert row["context_length_in_letters"] == str(sum(len(m["content"]) for m in ctx[:end]))


# --------------------------------------------------------------------------- content
@pytest.mark.parametrize("preset", ["mini", "32k"])
def test_evidence_messages_mention_their_activity(preset):
    for ctx in build(preset, 0):
        for item in ctx.items:
            assert len(item.evidence) == len(item.evidence_acts)
            for i, act in zip(item.evidence, item.evidence_acts):
                assert act in ctx.msgs[i].content, (item.qtype, i, act)


def test_mini_is_small_and_covers_every_type():
    contexts = build("mini", 0)
    assert 25 <= sum(len(c.items) for c in contexts) <= 35
    for ctx in contexts:
        assert {i.qtype for i in ctx.items} == set(QUESTION_TYPES)
        assert sum(count_tokens(m.content) for m in ctx.msgs) <= 2500
        sizes = Counter(m.session for m in ctx.msgs)
        assert all(6 <= n <= 10 for n in sizes.values()), sizes
    assert any(i.end_index == len(c.msgs) for c in contexts for i in c.items
               if i.qtype == "generalize_to_new_scenarios")


@pytest.mark.parametrize("preset", list(SESSIONS))
def test_session_count_per_preset(preset):
    for ctx in build(preset, 0):
        starts = [i for i, m in enumerate(ctx.msgs) if m.content.startswith("Current user persona:")]
        assert len(starts) == SESSIONS[preset] and starts[0] == 0
        assert all(ctx.msgs[i].role == "system" for i in starts)


def _said_stance(text: str) -> str:
    """The stance a user message states, read from the words (not from the generator's metadata)."""
    if re.search(r"(now|these days) I (enjoy|dislike) it", text):
        return "like" if re.search(r"(now|these days) I enjoy it", text) else "dislike"
    return "dislike" if re.search(r"did not enjoy|disliked it|not for me", text) else "like"


LIKE, DISLIKE = "enjoy|really like|are into", "dislike|are not into|do not enjoy"


def test_acknowledge_gold_states_the_latest_stance_in_the_prefix():
    for ctx in build("32k", 0):
        for item in (i for i in ctx.items if i.qtype == "acknowledge_latest_preferences"):
            gold = _gold_body(item)
            stance, act = re.search(rf"Since you ({LIKE}|{DISLIKE}) (.+) these days", gold).groups()
            said = [m.content for m in ctx.msgs[:item.end_index] if m.role == "user" and act in m.content]
            assert ("dislike" if re.fullmatch(DISLIKE, stance) else "like") == _said_stance(said[-1])


def test_suggest_new_ideas_gold_is_new_and_wrong_options_were_done():
    for ctx in build("32k", 0):
        text = " ".join(m.content for m in ctx.msgs)
        for item in (i for i in ctx.items if i.qtype == "suggest_new_ideas"):
            prefix = " ".join(m.content for m in ctx.msgs[:item.end_index])
            for option in item.options.labelled:
                act = re.match(r"You could try (.+) next\.", _body(option)).group(1)
                if option == item.options.labelled["abcd".index(item.options.gold[1])]:
                    assert act not in text
                else:
                    assert act in prefix


def test_recall_gold_pairs_activity_and_companion_as_the_user_did():
    for ctx in build("32k", 0):
        for item in (i for i in ctx.items if i.qtype == "recall_user_shared_facts"):
            said = [m.content for m in ctx.msgs[:item.end_index] if m.role == "user"]
            for option in item.options.labelled:
                act, comp = re.search(r"about (.+) with (.+?)\. ", _body(option)).groups()
                mine = comp.replace("your", "my")
                true = any(act in s and mine in s for s in said)
                assert true == (_body(option) == _gold_body(item)), option


def _mentions(ctx, item, act: str) -> list[str]:
    return [m.content for m in ctx.msgs[:item.end_index] if m.role == "user" and act in m.content]


def _items(qtype: str):
    return [(c, i) for c in build("32k", 0) for i in c.items if i.qtype == qtype]


def test_track_gold_narrates_the_stated_sequence():
    for ctx, item in _items("track_full_preference_evolution"):
        gold = _gold_body(item).split(". ")[0]  # the history, without the closing filler
        act = re.search(r"at first you \w+ (.+?), ", gold).group(1)
        told = ["dislike" if w.startswith("dislike") else "like" for w in re.findall(r"you (\w+)", gold)]
        assert told == [_said_stance(m) for m in _mentions(ctx, item, act)]


def test_recommendation_gold_is_liked_now():
    for ctx, item in _items("provide_preference_aligned_recommendations"):
        act = re.match(r"I'd recommend (.+) this weekend\.", _gold_body(item)).group(1)
        assert _said_stance(_mentions(ctx, item, act)[-1]) == "like"


def _neutral(text: str) -> str:
    """Voice-free text: pronouns of either speaker become one token."""
    return re.sub(r"\b(I|me|my|myself|you|your|yourself)\b", "P", text)


def test_revisit_gold_reason_is_the_one_given_in_the_latest_update():
    for ctx, item in _items("revisit_reasons_behind_preference_updates"):
        act, reason = re.match(r"You changed your mind about (.+?) because (.+)\. ", _gold_body(item)).groups()
        updates = [m for m in _mentions(ctx, item, act) if "because" in m]
        assert _neutral(reason) in _neutral(updates[-1])
        for option in item.options.labelled:
            if _body(option) != _gold_body(item):
                other = re.match(r"You changed your mind about .+? because (.+)\. ", _body(option)).group(1)
                assert _neutral(other) not in _neutral(updates[-1])


# --------------------------------------------------------------------------- leakage
def test_balance_gives_the_correct_option_a_uniform_length_rank():
    rng = random.Random(7)
    stems = ["You could try " + "x" * 40 + " next. {filler}", *("You could try " + "y" * n + " next. {filler}"
                                                              for n in (12, 18, 25))]
    ranks = Counter(length_rank(balance(rng, stems), 0) for _ in range(400))
    assert all(0.15 <= ranks[r] / 400 <= 0.35 for r in range(4)), ranks


def test_option_lengths_do_not_reveal_the_answer():
    items = [i for p, s in (("32k", 0), ("32k", 1), ("128k", 0), ("1m", 0)) for c in build(p, s) for i in c.items]
    assert len(items) > 400
    gold_ranks = Counter()
    for item in items:
        bodies = [_body(o) for o in item.options.labelled]
        gold_ranks[length_rank(bodies, "abcd".index(item.options.gold[1]))] += 1
    for rank in range(4):  # 0: the right option is the longest; 3: it is the shortest
        assert 0.15 <= gold_ranks[rank] / len(items) <= 0.35, gold_ranks
