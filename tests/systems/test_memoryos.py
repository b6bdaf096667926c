"""MemoryOS: heat and merge math by hand, STM overflow, segment placement, promotion at heat 5, fallbacks."""
import json
import math

import numpy as np
import pytest

from comam_bench.api import Message, Question, Resources
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import question_message
from comam_bench.registry import resolve_system
from comam_bench.systems.memoryos import MemoryOS
from comam_bench.systems.memoryos.prompts import (fallback_theme, parse_continuity, parse_knowledge,
                                                  parse_themes)
from comam_bench.systems.memoryos.store import (HeatParams, MidTermMemory, Page, heat, jaccard, merge_score,
                                                recency)

THEME = json.dumps([{"theme": "hobbies", "keywords": ["Hobby", "weekend"], "content": "the user's hobbies"}])
KNOWLEDGE = "USER FACTS:\n- likes tennis (day 0)\n- none\nASSISTANT KNOWLEDGE:\n- suggested a racket"


def responder(summary=THEME, continuity="true", profile="PROFILE v1", knowledge=KNOWLEDGE):
    def respond(chat):
        body = chat[-1]["content"]
        if "Answer with a JSON list only" in body:
            return summary
        if body.endswith("Answer true or false:"):
            return continuity
        if "Write the updated overview" in body:
            return "thread about hobbies"
        if body.endswith("Updated profile:"):
            return profile
        if "USER FACTS:" in body:
            return knowledge
        return "<final_answer>(b)"
    return respond


def make(llm=None, **args):
    system = MemoryOS(Resources(llm or ScriptedLLM(responder()), HashEmbedder), **args)
    system.reset("c1")
    return system


def turns(n, start=0, topic="hobby"):
    msgs = []
    for i in range(start, start + n):
        msgs += [Message("user", f"User: my {topic} number {i}"), Message("assistant", f"Assistant: nice {topic} {i}")]
    return msgs


def question(text):
    opts = ("(a) yes", "(b) no", "(c) maybe", "(d) never")
    return Question("q1", "recall_user_shared_facts", "x", "t", text, opts, str(list(opts)), "b", "c1", 0)


def unit(*xs):
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


def page(i, vec):
    return Page(i, f"q{i}", f"r{i}", 0, vec=vec)


# --------------------------------------------------------------------------- pure math
def test_heat_by_hand():
    assert recency(0, 1.0) == 1.0
    assert recency(2, 1.0) == pytest.approx(math.exp(-2))
    assert recency(-3, 1.0) == 1.0  # no time travel
    assert heat(2, 3, 0) == pytest.approx(6.0)
    assert heat(0, 4, 1) == pytest.approx(4 + math.exp(-1))
    assert heat(1, 2, 58, HeatParams(alpha=2.0, beta=0.5, gamma=3.0, tau=116)) == pytest.approx(
        2 + 1 + 3 * math.exp(-0.5))


def test_merge_score_by_hand():
    assert jaccard({"a", "b"}, {"b", "c"}) == pytest.approx(1 / 3)
    assert jaccard(set(), {"a"}) == 0.0
    v = unit(1, 0)
    w = unit(0.6, 0.8)  # cos(v, w) = 0.6
    assert merge_score(v, frozenset({"x"}), w, frozenset({"x", "y"})) == pytest.approx(0.6 + 0.5)
    assert merge_score(v, frozenset({"x"}), w, frozenset({"x", "y"}), keyword_weight=0.0) == pytest.approx(0.6)


def test_segment_merge_or_new_by_threshold():
    mid = MidTermMemory(threshold=0.6)
    first = mid.insert("tennis", ["tennis", "sport"], unit(1, 0), [page(0, unit(1, 0))], now=0)
    # cos 0.5, keywords disjoint: 0.5 < 0.6 -> new segment
    second = mid.insert("other", ["food"], unit(0.5, math.sqrt(0.75)), [page(1, unit(0, 1))], now=0)
    assert second is not first and len(mid.segments) == 2
    # cos 0.4 with the first, Jaccard({tennis, sport}, {tennis, court}) = 1/3: 0.733 >= 0.6 -> merge
    third = mid.insert("court", ["Tennis", "court"], unit(0.4, -math.sqrt(0.84)), [page(2, unit(1, 0))], now=2)
    assert third is first and [p.id for p in first.pages] == [0, 2]
    assert (first.l_interaction, first.last_visit) == (2, 2)
    # exactly at the threshold merges (>=): cos 0.6 (as float32 computes it), no keywords
    mid2 = MidTermMemory(threshold=float(np.dot(unit(1, 0), unit(0.6, 0.8))))
    a = mid2.insert("a", [], unit(1, 0), [page(0, unit(1, 0))], now=0)
    assert mid2.insert("b", [], unit(0.6, 0.8), [page(1, unit(1, 0))], now=0) is a


def test_lfu_eviction_drops_least_retrieved():
    mid = MidTermMemory(capacity=2, threshold=5.0)  # never merge
    s0 = mid.insert("a", [], unit(1, 0), [page(0, unit(1, 0))], now=0)
    s1 = mid.insert("b", [], unit(0, 1), [page(1, unit(0, 1))], now=0)
    s0.access = 3
    mid.insert("c", [], unit(1, 1), [page(2, unit(1, 1))], now=0)
    assert s1.id not in mid.segments and s0.id in mid.segments and mid.evicted == 1


def test_search_counts_visits_on_segments_that_yield_pages():
    mid = MidTermMemory(threshold=5.0)
    hit = mid.insert("a", [], unit(1, 0), [page(0, unit(1, 0)), page(1, unit(0, 1))], now=0)
    miss = mid.insert("b", [], unit(0, 1), [page(2, unit(0, 1))], now=0)
    results = mid.search(unit(1, 0.05), now=3, segment_threshold=0.1, page_threshold=0.1)
    assert [p.id for _, p in results] == [0]
    assert (hit.n_visit, hit.last_visit, hit.access) == (1, 3, 1)
    assert (miss.n_visit, miss.access) == (0, 0)


# --------------------------------------------------------------------------- parsers
def test_parsers_tolerate_small_model_output():
    assert parse_themes(THEME) == [("the user's hobbies", ["Hobby", "weekend"])]
    assert parse_themes('Sure: {"theme": "x", "keywords": "a, b"}') == [("x", ["a", "b"])]
    assert parse_themes('[{"content": "a"}, {"content": "b"}, {"content": "c"}]', 2) == [("a", []), ("b", [])]
    assert parse_themes("no json at all") is None and parse_themes("[1, 2]") is None
    assert parse_continuity("True.") is True and parse_continuity("no, it changes") is False
    assert parse_continuity("maybe") is None
    assert parse_knowledge(KNOWLEDGE) == (["likes tennis (day 0)"], ["suggested a racket"])
    assert parse_knowledge("\u3010User Private Data\u3011\n- a fact") == (["a fact"], [])
    assert parse_knowledge("rambling") is None
    summary, keywords = fallback_theme("User: tennis tennis racket\nAssistant: tennis lessons")
    assert summary.startswith("User: tennis") and keywords[0] == "tennis"


# --------------------------------------------------------------------------- the system
def test_short_term_overflow_moves_oldest_pages():
    mos = make(short_term_capacity=3)
    mos.ingest(turns(5), 0)
    assert [p.query for p in mos.stm] == ["my hobby number 2", "my hobby number 3", "my hobby number 4"]
    assert sorted(p.query for p in mos.mid.pages()) == ["my hobby number 0", "my hobby number 1"]
    batched = make(short_term_capacity=3, evict_batch=2)
    batched.ingest(turns(4), 0)
    assert [p.query for p in batched.stm] == ["my hobby number 2", "my hobby number 3"]
    assert len(batched.mid.pages()) == 2


def test_llm_calls_are_batched_per_ingest():
    llm = ScriptedLLM(responder())
    mos = make(llm, short_term_capacity=2)
    mos.ingest(turns(5), 0)  # 3 evictions of one page
    assert llm.batches[:3] == [("mid_term_summary", 3), ("page_chain", 2), ("page_chain", 1)]
    chained = mos.mid.pages()
    assert {p.chain for p in chained} == {chained[0].id} and {p.meta for p in chained} == {"thread about hobbies"}


def test_promotion_when_heat_reaches_five():
    llm = ScriptedLLM(responder())
    mos = make(llm, short_term_capacity=2)
    mos.ingest(turns(5), 0)  # 3 pages in one segment: heat = 3 + exp(0) = 4 < 5
    (seg,) = mos.mid.segments.values()
    assert mos.mid.heat_of(seg, 0) == pytest.approx(4.0)
    assert not any(agent in ("profile", "knowledge") for agent, _ in llm.batches) and mos.profile == ""
    mos.ingest(turns(1, start=5), 10)  # 4th page: heat 5 -> long-term update
    assert [a for a, _ in llm.batches[-2:]] == ["knowledge", "profile"]
    assert mos.profile == "PROFILE v1"
    assert [k.text for k in mos.user_knowledge] == ["likes tennis (day 0)"]
    assert [k.text for k in mos.assistant_knowledge] == ["suggested a racket"]
    assert (seg.n_visit, seg.l_interaction) == (0, 0) and all(p.analyzed for p in seg.pages)
    assert mos.mid.heat_of(seg, 0) == pytest.approx(1.0)
    assert mos.resources.diagnostics["memoryos_promotions"] == 1


def test_visits_heat_a_segment_until_it_is_promoted():
    def run(answers):
        mos = make(short_term_capacity=2, page_threshold=-1.0, segment_threshold=-1.0)
        mos.ingest(turns(4), 0)  # 2 pages in one segment: heat 2 + 1 = 3
        for _ in range(answers):  # each retrieval that yields a page is a visit
            mos.answer([question("my hobby number 0")])
        mos.ingest(turns(1, start=4), 8)  # a 3rd page: heat 3 + 1 + visits
        return mos

    assert run(answers=0).profile == ""  # heat 4
    assert run(answers=1).profile == "PROFILE v1"  # heat 5


def test_time_is_session_order_for_recency():
    mos = make(short_term_capacity=1)
    persona = [Message("system", "Current user persona: A")]
    mos.ingest(persona + turns(1) + persona + persona, 0)  # pages evicted on days 0, 1 and 2
    (seg,) = mos.mid.segments.values()
    assert mos.pairer.day == 2 and seg.last_visit == 2 and seg.l_interaction == 3
    assert mos.mid.heat_of(seg, 4) == pytest.approx(3 + math.exp(-2))


def test_pages_go_to_their_closest_theme():
    two = json.dumps([{"theme": "t", "keywords": ["tennis"], "content": "tennis racket court"},
                      {"theme": "c", "keywords": ["cooking"], "content": "cooking pasta sauce"}])
    mos = make(ScriptedLLM(responder(summary=two)), short_term_capacity=2, evict_batch=2, page_chains=False)
    mos.ingest([Message("user", "User: tennis racket court"), Message("assistant", "Assistant: ok"),
                Message("user", "User: cooking pasta sauce"), Message("assistant", "Assistant: ok"),
                Message("user", "User: later"), Message("assistant", "Assistant: fine")], 0)
    by_summary = {s.summary: [p.query for p in s.pages] for s in mos.mid.segments.values()}
    assert by_summary == {"tennis racket court": ["tennis racket court"],
                          "cooking pasta sauce": ["cooking pasta sauce"]}


def test_garbage_llm_output_falls_back_without_raising():
    llm = ScriptedLLM(responder(summary="I cannot", continuity="hmm", profile="", knowledge="blah"))
    mos = make(llm, short_term_capacity=1)
    mos.ingest(turns(6), 0)
    diag = mos.resources.diagnostics
    assert diag["memoryos_bad_summary_json"] == 5 and diag["memoryos_bad_continuity"] == 4
    assert diag["memoryos_bad_knowledge"] >= 1 and diag["memoryos_empty_profile"] >= 1
    assert mos.profile == "" and len(mos.mid.pages()) == 5
    assert all(s.summary.startswith("User: my hobby") for s in mos.mid.segments.values())
    assert len(mos.answer([question("hobby")])) == 1


def test_answer_prompt_holds_profile_knowledge_pages_and_recent():
    llm = ScriptedLLM(responder())
    mos = make(llm, short_term_capacity=2, page_threshold=-1.0, segment_threshold=-1.0,
               knowledge_threshold=-1.0)
    mos.ingest(turns(6), 0)
    mos.ingest([Message("user", "User: still open")], 12)
    q = question("my hobby number 0")
    (ans,) = mos.answer([q])
    memory, user = ans.prompt
    assert user == {"role": "user", "content": question_message(q)}
    text = memory["content"]
    for piece in ("User profile:\nPROFILE v1", "Facts about the user:\n- likes tennis (day 0) (day 0)",
                  "Related earlier conversation:", "Thread overview: thread about hobbies",
                  "Recent conversation:\n[day 0] User: my hobby number 4", "[day 0] User: still open"):
        assert piece in text
    assert text.index("User profile") < text.index("Related earlier") < text.index("Recent conversation")
    assert ans.text == "<final_answer>(b)" and llm.batches[-1] == ("answer", 1)
    assert mos.memory_stats()["items"] > 0


def test_config_and_yaml_variants():
    mos = make(recency_tau=116.0)
    assert mos.config()["recency_tau"] == 116.0 and mos.config()["short_term_capacity"] == 7
    with pytest.raises(TypeError):
        MemoryOS(Resources(ScriptedLLM(), HashEmbedder), no_such_arg=1)
    for name in ("memoryos-fast", "memoryos-paper-recency", "memoryos-library"):
        spec = resolve_system(name)
        assert MemoryOS(Resources(ScriptedLLM(), HashEmbedder), **spec.args).config()
