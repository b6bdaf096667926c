"""CoMAM's budgeted memory view, checked by hand: tokens are whitespace words (as ScriptedLLM counts them).

Costs used below: every header or line costs words + 1.
"Fine-grained memory:" = 3, "Coarse-grained memory (user profile):" = 5, "Conversation history:" = 3,
and an entry line "[session N] <text>" = 2 + words(text) + 1.
"""
from __future__ import annotations

import pytest

from comam_bench.api import Message
from comam_bench.comam.memory import (Entry, Memory, assemble, is_session_start, rank_entries,
                                      render_session)
from comam_bench.comam.prompts import COARSE_HEADER, FINE_HEADER, RAW_HEADER
from comam_bench.llm.hashing import HashEmbedder


def words(text: str) -> int:
    return len(text.split())


MEMORY = Memory(
    entries=(Entry(0, "I love jazz concerts"),  # line cost 7
             Entry(1, "we talked about the weather today at length"),  # line cost 11
             Entry(2, "I now hate jazz")),  # line cost 7
    profile="likes jazz",  # cost 3, with its header 8
)


def test_entries_that_fit_are_taken_in_rank_order_and_shown_in_session_order():
    view = assemble(MEMORY, order=[2, 1, 0], budget=25, count=words)
    # left for entries: 25 - 8 (profile) - 3 (header) = 14 -> entry 2 (7), entry 1 (11) skipped, entry 0 (7)
    assert view.picked == [2, 0]
    assert view.tokens == 25
    assert view.text == (f"{FINE_HEADER}\n[session 1] I love jazz concerts\n[session 3] I now hate jazz\n\n"
                         f"{COARSE_HEADER}\nlikes jazz")
    assert view.tokens == sum(words(line) + 1 for line in view.text.split("\n") if line)


def test_one_token_less_drops_the_lower_ranked_entry():
    view = assemble(MEMORY, order=[2, 1, 0], budget=24, count=words)
    assert view.picked == [2]
    assert "I love jazz" not in view.text and "I now hate jazz" in view.text


def test_a_bigger_lower_ranked_entry_is_skipped_but_a_smaller_one_after_it_still_fits():
    view = assemble(MEMORY, order=[1, 0, 2], budget=8 + 3 + 10, count=words)
    assert view.picked == [0]  # 10 left: entry 1 (11) does not fit, entry 0 (7) does, then entry 2 (7) not


def test_the_profile_is_always_included_even_when_no_entry_fits():
    view = assemble(MEMORY, order=[0, 1, 2], budget=10, count=words)
    assert view.picked == []
    assert view.text == f"{COARSE_HEADER}\nlikes jazz"
    assert not view.profile_truncated


def test_a_profile_bigger_than_the_budget_is_cut_to_it():
    memory = Memory((Entry(0, "x"),), profile="a b c d e f g h i j")
    view = assemble(memory, order=[0], budget=10, count=words)
    # room for the profile: 10 - 5 (header) - 1 (its newline) = 4 words
    assert view.profile_truncated
    assert view.text == f"{COARSE_HEADER}\na b c d"
    assert view.tokens == 10


def test_without_a_profile_only_entries_and_no_profile_header():
    view = assemble(Memory(MEMORY.entries), order=[0, 1, 2], budget=100, count=words)
    assert view.picked == [0, 1, 2]
    assert COARSE_HEADER not in view.text and view.text.startswith(FINE_HEADER)


def test_raw_entries_get_the_history_header():
    view = assemble(Memory(MEMORY.entries), order=[0], budget=100, count=words, raw=True)
    assert view.text.startswith(RAW_HEADER + "\n[session 1]")


def test_top_entry_is_clipped_when_nothing_fits_whole():
    long_text = " ".join(f"w{i}" for i in range(40))
    view = assemble(Memory((Entry(0, "short one"), Entry(4, long_text))), order=[1, 0], budget=30, count=words)
    # left: 30 - 3 = 27; entry 1 costs 43 -> skipped; entry 0 costs 5 -> taken: nothing clipped
    assert view.picked == [0] and not view.clipped
    alone = assemble(Memory((Entry(4, long_text),)), order=[0], budget=30, count=words)
    assert alone.clipped and alone.picked == [0]
    line = alone.text.split("\n")[1]
    assert line.startswith("[session 5] w0 w1") and words(line) == 26  # 27 left, minus its newline
    assert alone.tokens <= 30


def test_an_empty_memory_is_an_empty_text():
    assert assemble(Memory(), order=[], budget=50, count=words).text == ""


# --------------------------------------------------------------------------- ranking

ENTRIES = (Entry(0, "I adore jazz and live music"), Entry(1, "I started running in the park"),
           Entry(2, "cooking pasta on weekends"), Entry(3, "jazz bores me now, I prefer running"))


def test_recency_ranks_newest_first():
    assert rank_entries(ENTRIES, "anything", "recency") == [3, 2, 1, 0]


def test_bm25_ranks_matching_entries_first_and_breaks_ties_by_recency():
    order = rank_entries(ENTRIES, "what about jazz?", "bm25")
    assert set(order[:2]) == {0, 3}
    assert order[2:] == [2, 1]  # no shared term: newest first
    assert rank_entries(ENTRIES, "zzz unknown words", "bm25") == [3, 2, 1, 0]


def test_dense_ranking_uses_the_embedder():
    embedder = HashEmbedder()
    order = rank_entries(ENTRIES, "cooking pasta on weekends", "dense", embed=lambda texts: embedder.embed(texts))
    assert order[0] == 2


def test_unknown_ranking_and_dense_without_embedder_fail_clearly():
    with pytest.raises(ValueError, match="ranking must be one of"):
        rank_entries(ENTRIES, "q", "tfidf")
    with pytest.raises(ValueError, match="embedder"):
        rank_entries(ENTRIES, "q", "dense")


# --------------------------------------------------------------------------- sessions


def test_render_session_adds_a_role_only_where_the_content_has_no_speaker():
    msgs = [Message("system", "Current user persona: Ann, 30"), Message("user", "User: hi"),
            Message("assistant", "hello there"), Message("user", "Patient: I feel fine")]
    assert render_session(msgs) == "Current user persona: Ann, 30\nUser: hi\nAssistant: hello there\nPatient: I feel fine"
    assert is_session_start(msgs[0]) and not is_session_start(msgs[1])
