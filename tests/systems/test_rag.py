"""RAG: units (chunks, turns, sessions), incremental ingest, the retrieved prompt and its budget."""
import random

import pytest

from comam_bench import registry
from comam_bench.api import Message, Question, Resources
from comam_bench.budget import pack
from comam_bench.llm.hashing import HashEmbedder
from helpers_systems import CountingEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.systems.rag import RAG, UNITS

HIKING = [("I love hiking in the mountains on weekends", "Mountain trails are a great way to unwind"),
          ("Last month I climbed a steep ridge trail", "That sounds like a challenging climb")]
BAKING = [("My sourdough starter is named Zorblax and it bubbles nicely", "Zorblax sounds like a lively starter"),
          ("I bake bread every Sunday morning", "Fresh bread on Sundays is a lovely ritual")]
JAZZ = [("I started going to jazz concerts downtown", "Live jazz has such energy"),
        ("Jazz piano is my favourite, jazz trio nights especially", "A jazz trio is intimate and fun")]


def session(turns, persona="Kim, a teacher who likes the outdoors"):
    msgs = [Message("system", f"Current user persona: {persona}")]
    for user, assistant in turns:
        msgs += [Message("user", f"User: {user}"), Message("assistant", f"Assistant: {assistant}")]
    return msgs


CONTEXT = session(HIKING) + session(BAKING) + session(JAZZ)  # 15 messages, sessions start at 0, 5, 10


def question(text, qid="q1"):
    options = ("(a) yes", "(b) no", "(c) maybe", "(d) never")
    return Question(id=qid, type="recall_user_shared_facts", raw_type="r", topic="t", text=text,
                    options=options, options_raw=str(list(options)), gold="a", context_id="c", end_index=15)


def make(window=4096, embedder=None, **args):
    llm = ScriptedLLM(context_window=window)
    emb = embedder or HashEmbedder()
    system = RAG(Resources(llm, lambda: emb), **args)
    system.reset("c")
    return system, llm


def rendered(messages):
    return [f"{m.role}: {m.content}" for m in messages]


def snapshot(system):
    return [(u.lines, u.tokens, u.start, u.end, u.first_session, u.last_session) for u in system.units]


# --------------------------------------------------------------------------- units
def test_token_chunks_fit_and_break_between_messages():
    system, _ = make(chunk_tokens=30)
    system.ingest(CONTEXT, 0)
    assert len(system.units) > 2
    assert all(u.tokens <= 30 for u in system.units)
    lines = [line for u in system.units for line in u.lines]
    assert lines == rendered(CONTEXT)  # every chunk is whole messages, in order
    assert [u.text() for u in system.units] == pack(rendered(CONTEXT), 30, lambda t: len(t.split()))


def test_long_message_is_split_across_chunks():
    long = Message("user", "User: " + " ".join(f"w{i}" for i in range(70)))
    system, _ = make(chunk_tokens=30)
    system.ingest([CONTEXT[0], long, CONTEXT[2]], 0)
    assert all(u.tokens <= 30 for u in system.units)
    holding = [u for u in system.units if u.start <= 1 < u.end]
    assert len(holding) >= 3  # 72 words do not fit in fewer than three 30-token chunks
    assert " ".join(" ".join(u.lines) for u in holding).count("w69") == 1


def test_turn_units_pair_user_and_reply():
    system, _ = make(unit="turn")
    system.ingest([Message("assistant", "Assistant: hello")] + CONTEXT[:5], 0)
    kinds = [[line.split(":")[0] for line in u.lines] for u in system.units]
    assert kinds == [["assistant"], ["system"], ["user", "assistant"], ["user", "assistant"]]
    assert [(u.start, u.end) for u in system.units] == [(0, 1), (1, 2), (2, 4), (4, 6)]


def test_session_units_and_labels():
    system, _ = make(unit="session")
    system.ingest(CONTEXT, 0)
    assert [(u.start, u.end) for u in system.units] == [(0, 5), (5, 10), (10, 15)]
    assert [u.label() for u in system.units] == ["[session 1]", "[session 2]", "[session 3]"]
    chunked, _ = make(chunk_tokens=2048)
    chunked.ingest(CONTEXT, 0)
    assert [u.label() for u in chunked.units] == ["[sessions 1-3]"]


@pytest.mark.parametrize("unit", UNITS)
def test_incremental_ingest_gives_the_same_units(unit):
    whole, _ = make(unit=unit, chunk_tokens=25)
    whole.ingest(CONTEXT, 0)
    rng = random.Random(1)
    for _ in range(5):
        parts, _ = make(unit=unit, chunk_tokens=25, retriever="hybrid")
        start = 0
        while start < len(CONTEXT):
            n = rng.randint(1, 4)
            parts.ingest(CONTEXT[start:start + n], start)
            parts.answer([question("bread")])  # indexes the open unit, which later grows
            start += n
        assert snapshot(parts) == snapshot(whole)
        assert set(parts.resources.diagnostics) <= {"rag_bm25_no_match"}  # "bread" before its session


# --------------------------------------------------------------------------- the prompt
@pytest.mark.parametrize("retriever", ["dense", "bm25", "hybrid"])
def test_prompt_holds_the_retrieved_unit(retriever):
    system, llm = make(unit="turn", retriever=retriever, top_k=1)
    system.ingest(CONTEXT, 0)
    q = question("How should I feed my Zorblax sourdough starter?")
    [answer] = system.answer([q])
    memory, asked = answer.prompt[0]["content"], answer.prompt[1]["content"]
    assert memory.startswith("Relevant memory of the conversation with this user:\n[session 2]\n")
    assert "starter is named Zorblax" in memory and "hiking" not in memory and "jazz" not in memory
    assert asked.startswith(q.text)  # the standard question message
    assert answer.info["retrieved"] == [[6, 8]]
    assert answer.text == "<final_answer>(a)"
    assert llm.calls[-1][1]["agent"] == "answer"


def test_retrieved_units_are_shown_chronologically():
    system, _ = make(unit="session", retriever="bm25", top_k=2)
    system.ingest(CONTEXT, 0)
    q = question("jazz jazz trio and hiking")
    assert system.rank(q)[:2] == [2, 0]  # session 3 ranks first
    [answer] = system.answer([q])
    memory = answer.prompt[0]["content"]
    assert memory.index("[session 1]") < memory.index("[session 3]")
    assert "[session 2]" not in memory
    assert answer.info["retrieved"] == [[0, 5], [10, 15]]


def test_prompt_respects_the_budget_and_clips():
    window = 240  # the question message (~31 words), answer (64), reserve (64), header (16): ~65 left
    system, llm = make(window=window, chunk_tokens=2048)
    system.ingest(CONTEXT, 0)  # ~150 words: one chunk, larger than the budget
    [answer] = system.answer([question("bread")])
    assert llm.count_chat_tokens(answer.prompt) + system.answer_tokens <= window
    assert system.resources.diagnostics.get("rag_unit_clipped") == 1
    memory = answer.prompt[0]["content"]
    assert "[sessions 1-3]\nsystem: Current user persona:" in memory  # the head of the chunk is kept
    assert "memory_truncated_to_window" not in system.resources.diagnostics


def test_budget_stops_at_top_k_and_window():
    system, llm = make(window=4096, unit="turn", top_k=3)
    system.ingest(CONTEXT, 0)
    [answer] = system.answer([question("bread")])
    assert len(answer.info["retrieved"]) == 3
    small, llm = make(window=230, unit="turn", top_k=30)
    small.ingest(CONTEXT, 0)
    [answer] = small.answer([question("bread")])
    assert 1 <= len(answer.info["retrieved"]) < 12
    assert llm.count_chat_tokens(answer.prompt) + small.answer_tokens <= 230


def test_empty_memory_and_no_bm25_match():
    system, _ = make(retriever="bm25")
    [answer] = system.answer([question("anything")])
    assert len(answer.prompt) == 1 and answer.info["retrieved"] == []
    system.ingest(CONTEXT, 0)
    [answer] = system.answer([question("zebra")])
    assert len(answer.prompt) == 1
    assert system.resources.diagnostics["rag_bm25_no_match"] == 1


# --------------------------------------------------------------------------- incremental cost
def test_units_embedded_once_and_bm25_rebuilt_only_on_change():
    emb = CountingEmbedder()
    system, _ = make(unit="turn", retriever="hybrid", embedder=emb)
    system.ingest(CONTEXT[:7], 0)
    system.answer([question("bread", "q1"), question("jazz", "q2")])
    # units: persona, pair, pair, the same persona (same text: embedded once), the open user message
    assert len(emb.texts) == 4 + 2
    builds = system.bm25.builds
    system.answer([question("bread", "q3")])
    assert len(emb.texts) == 6 and system.bm25.builds == builds  # nothing changed: nothing re-embedded
    system.ingest(CONTEXT[7:8], 7)  # the reply completes the open pair
    system.answer([question("hiking", "q4")])
    assert emb.texts[6:] == [system.units[-1].text(), "hiking"]
    assert system.bm25.builds == builds + 1


def test_piece_tokens_embeds_bounded_pieces():
    emb = CountingEmbedder()
    system, _ = make(unit="session", piece_tokens=12, top_k=1, embedder=emb)
    system.ingest(CONTEXT, 0)
    [answer] = system.answer([question("Zorblax sourdough starter")])
    assert answer.info["retrieved"] == [[5, 10]]
    pieces = emb.texts[:-1]
    assert len(pieces) > 3 and all(len(p.split()) + p.count("\n") + 1 <= 12 for p in pieces)


# --------------------------------------------------------------------------- robustness and specs
def test_malformed_messages_are_counted_not_raised():
    system, _ = make(unit="turn")
    system.ingest([Message("user", None), Message(None, "text")], 0)
    system.ingest([Message("user", "User: hi")], 5)
    assert system.resources.diagnostics == {"rag_bad_message": 2, "rag_ingest_gap": 1}
    assert len(system.answer([question("hi")])) == 1


def test_arguments_config_and_stats():
    system, _ = make(unit="turn")
    assert system.config() == {"unit": "turn", "chunk_tokens": 2048, "retriever": "dense", "top_k": 32,
                               "rrf_k": 60, "query": "question", "piece_tokens": None, "answer_tokens": 64}
    system.ingest(CONTEXT, 0)
    assert system.memory_stats() == {"items": 9, "tokens": sum(len(t.split()) + 1 for t in rendered(CONTEXT))}
    for bad in ({"retriever": "colbert"}, {"unit": "sentence"}, {"query": "options"}, {"piece_tokens": 1},
                {"chunk_tokens": 1}):
        with pytest.raises(ValueError):
            make(**bad)
    with pytest.raises(TypeError):
        make(chunk_size=10)


def test_query_with_options():
    system, _ = make(query="question+options")
    q = question("Where?")
    assert system._query_text(q) == "Where?\n" + q.options_raw


@pytest.mark.parametrize("name,args", [("rag", {}), ("rag-bm25", {"retriever": "bm25"}),
                                       ("rag-hybrid", {"retriever": "hybrid", "rrf_k": 60}),
                                       ("rag-turn", {"unit": "turn", "top_k": 32}),
                                       ("rag-session", {"unit": "session", "top_k": 2, "piece_tokens": 200})])
def test_specs_resolve_and_build(name, args):
    spec = registry.resolve_system(name)
    assert spec.args == args
    cls = registry.system_class(spec)
    assert cls is RAG and cls.description
    system = cls(Resources(ScriptedLLM(), HashEmbedder), **spec.args)
    assert {k: system.config()[k] for k in args} == args
