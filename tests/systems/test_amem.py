"""A-Mem: note construction, evolution (links, neighbour updates), hybrid retrieval with links, fallbacks."""
import json
import re

import numpy as np
import pytest

from comam_bench.api import Embedder, Message, Question, Resources
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import question_message
from comam_bench.systems.amem import AMem, Note

TOPICS = ("tea", "coffee", "hiking", "chess")


class TopicEmbedder(Embedder):
    """One axis per topic word present (plus a 'none' axis): cosines are easy to work out by hand."""

    def embed(self, texts):
        out = np.zeros((len(texts), len(TOPICS) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            for j, word in enumerate(TOPICS):
                out[i, j] = float(word in text.lower())
            out[i, -1] = float(not out[i].any())
        return out / np.linalg.norm(out, axis=1, keepdims=True)


class TableEmbedder(Embedder):
    """Fixed vectors by exact text; used to pin cosine scores in the ranking test."""

    def __init__(self, table):
        self.table = table

    def embed(self, texts):
        return np.stack([np.asarray(self.table.get(t, [0.0, 0.0, 1.0]), dtype=np.float32) for t in texts])


def note_reply(content):
    word = next((w for w in TOPICS if w in content.lower()), "misc")
    return json.dumps({"keywords": [word, "user", "likes"], "context": f"User talks about {word}.",
                       "tags": [word, "preference", "hobby"]})


def shown_neighbours(prompt):
    """[(position, content)] of the neighbours listed in an evolution prompt."""
    return [(int(m.group(1)), m.group(2)) for m in re.finditer(r"^\[(\d+)\] session \d+ \| content: (.*?) \|",
                                                               prompt, re.M)]


def new_content(prompt):
    return re.search(r"^content: (.*)$", prompt, re.M).group(1)


def make_llm(evolve, answer="<final_answer>(a)", notes=note_reply, query=None):
    """Dispatch on the prompt: note construction, evolution(prompt) -> reply, keyword query, answer."""
    def respond(chat):
        text = chat[-1]["content"]
        if text.startswith("Describe the message below"):
            return notes(text.split("Message:\n", 1)[1])
        if text.startswith("You maintain a knowledge base"):
            return evolve(text)
        if text.startswith("Write a few search keywords"):
            return query(text)
        return answer
    return ScriptedLLM(respond)


def system(llm, embedder=None, **args):
    res = Resources(llm=llm, embedder_factory=lambda: embedder or TopicEmbedder())
    return AMem(res, **args), res


def user(text):
    return Message("user", f"User: {text}")


def question(text, qid="q1"):
    return Question(qid, "recall_user_shared_facts", "x", "food", text, ("(a) x", "(b) y", "(c) z", "(d) w"),
                    "['(a) x', '(b) y', '(c) z', '(d) w']", "a", "ctx", 3)


NO_EVOLVE = json.dumps({"should_evolve": False, "actions": []})


def test_notes_are_built_in_one_batch_and_parsed():
    replies = iter(['```json\n{"keywords": ["tea", "green"], "context": "Likes tea.", "tags": ["drink"]}\n```',
                    "I cannot do that.",
                    "{'keywords': 'hiking, alps', 'context': ['Goes', 'hiking.'], 'tags': []}"])
    llm = make_llm(lambda p: NO_EVOLVE, notes=lambda content: next(replies))
    mem, res = system(llm, evolve=False)
    mem.reset("c")
    mem.ingest([user("I like green tea"), user("blah"), user("hiking in the alps")], 0)
    assert llm.batches == [("amem_note", 3)]
    a, b, c = mem.notes
    assert (a.keywords, a.context, a.tags) == (["tea", "green"], "Likes tea.", ["drink"])
    assert (b.keywords, b.context, b.tags) == ([], "General", [])  # the source's fallback
    assert (c.keywords, c.context, c.tags) == (["hiking", "alps"], "Goes hiking.", [])
    assert [n.id for n in mem.notes] == [0, 1, 2] and a.content == "User: I like green tea"
    assert res.diagnostics == {"amem_bad_note_json": 1, "amem_note_missing_field": 1}


def test_strengthen_links_new_notes_to_the_neighbours_named_by_position():
    def evolve(prompt):
        shown = shown_neighbours(prompt)
        content = new_content(prompt)
        if "coffee" in content and "tea" not in content:  # note 1: its only neighbour is note 0
            assert [c for _, c in shown] == ["User: I drink tea"]
            return json.dumps({"should_evolve": True, "actions": ["strengthen"], "suggested_connections": [0],
                               "tags_to_update": ["drinks"]})
        # note 2 sees notes 0 and 1; it links to the coffee one by its position, plus a position not shown
        pos = next(p for p, c in shown if "coffee" in c)
        return json.dumps({"should_evolve": "true", "actions": "strengthen",
                           "suggested_connections": [f"memory index: {pos}", 7], "tags_to_update": []})
    llm = make_llm(evolve)
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([user("I drink tea"), user("I drink coffee"), user("I drink tea and coffee")], 0)
    assert {n.id: n.links for n in mem.notes} == {0: [], 1: [0], 2: [1]}
    assert mem.notes[1].tags == ["drinks"]  # retagged by strengthen
    assert mem.notes[2].tags == ["tea", "preference", "hobby"]  # empty tags_to_update keeps the note's tags
    assert res.diagnostics == {"amem_unknown_link": 1}
    assert mem.evo_count == 2
    assert [b for b in llm.batches if b[0] == "amem_evolve"] == [("amem_evolve", 1)] * 2  # sequential


def test_update_neighbor_rewrites_neighbours_in_order_and_reindexes_on_consolidation():
    def evolve(prompt):
        shown = shown_neighbours(prompt)
        if len(shown) < 2:
            return NO_EVOLVE
        # two neighbours shown; only one context and one tag list given: only the first changes
        return json.dumps({"should_evolve": True, "actions": ["update_neighbor"],
                           "new_context_neighborhood": ["Now about a morning routine."],
                           "new_tags_neighborhood": [["routine", "morning"]]})
    llm = make_llm(evolve)
    mem, _ = system(llm, evo_threshold=2)
    mem.reset("c")
    mem.ingest([user("I drink tea"), user("I drink coffee")], 0)
    mem.ingest([user("tea then coffee each morning")], 2)
    first = mem.notes[0]  # tea and coffee tie on cosine: the older note is shown first
    assert (first.context, first.tags) == ("Now about a morning routine.", ["routine", "morning"])
    assert mem.notes[1].context == "User talks about coffee."
    assert "routine" not in first.indexed  # the retriever keeps the old text until consolidation
    assert mem.bm25_scores("routine").max() == 0
    mem.ingest([user("chess or tea")], 3)  # second evolution -> evo_count 2 -> consolidate
    assert mem.evo_count == 2 and "routine" in mem.notes[0].indexed
    assert mem.bm25_scores("routine").argmax() == 0 and mem.bm25_scores("routine").max() > 0


def test_bad_evolution_json_and_should_evolve_false_change_nothing():
    replies = iter(["garbage {", json.dumps({"should_evolve": False, "actions": ["strengthen"],
                                             "suggested_connections": [0], "tags_to_update": ["x"]})])
    llm = make_llm(lambda prompt: next(replies))
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([user("tea"), user("tea again"), user("more tea")], 0)
    assert [n.links for n in mem.notes] == [[], [], []]
    assert [n.tags for n in mem.notes] == [["tea", "preference", "hobby"]] * 3
    assert mem.evo_count == 0 and res.diagnostics == {"amem_bad_evolution_json": 1}


def test_hybrid_score_ranks_by_hand_worked_values():
    # cosine to the query: 0.8, 0.6, 0.0; raw BM25: 0, 10, 5 -> normalised 0, ~1, ~0.5
    table = {"q": [1.0, 0.0, 0.0]}
    mem, _ = system(make_llm(lambda p: NO_EVOLVE), TableEmbedder(table), evolve=False)
    for i, vec in enumerate(([0.8, 0.6, 0.0], [0.6, 0.8, 0.0], [0.0, 1.0, 0.0])):
        mem.notes.append(Note(i, f"n{i}", 1, indexed=f"n{i}", vec=np.asarray(vec, dtype=np.float32)))
    mem.bm25_scores = lambda query: np.asarray([0.0, 10.0, 5.0], dtype=np.float32)
    ranking = {}
    for alpha in (0.0, 0.5, 1.0):
        mem.alpha = alpha
        ranking[alpha] = [n.id for n in mem.retrieve("q")]
    # alpha .5: 0.4, 0.3 + 0.5, 0 + 0.25 -> 1, 0, 2
    assert ranking == {0.0: [0, 1, 2], 0.5: [1, 0, 2], 1.0: [1, 2, 0]}
    assert np.allclose(mem.scores("q"), [0.0, 10 / (10 + 1e-6), 5 / (10 + 1e-6)], atol=1e-6)


def test_retrieval_adds_linked_notes_after_their_hit():
    mem, _ = system(make_llm(lambda p: NO_EVOLVE), HashEmbedder(512), retrieve_k=2, max_links=1, alpha=0.5)
    contents = ["I go hiking in the alps", "my hiking boots broke", "I play chess", "I bake bread", "I drink tea"]
    for i, c in enumerate(contents):
        mem.store(Note(i, c, 1))
    mem.notes[0].links = [3, 2]  # hit 0 brings note 3 (the first link); the cap stops note 2
    mem.notes[1].links = [4]
    assert [n.id for n in mem.retrieve("hiking alps")] == [0, 3, 1]
    mem.max_links = 5
    assert [n.id for n in mem.retrieve("hiking alps")] == [0, 3, 2, 1, 4]
    mem.alpha = 1.0  # pure BM25 through bm25s: "bread" only in note 3
    mem.retrieve_k = 1
    assert [n.id for n in mem.retrieve("fresh bread")] == [3]


def test_answer_uses_the_standard_prompt_and_skip_system():
    llm = make_llm(lambda p: NO_EVOLVE, answer="<final_answer>(c)")
    mem, _ = system(llm, retrieve_k=1, skip_system=True)
    mem.reset("c")
    persona = Message("system", "Current user persona: Bo.")
    mem.ingest([persona, user("I love chess"), Message("assistant", "Assistant: ok"), persona, user("I hate coffee")], 0)
    assert [(n.content, n.session) for n in mem.notes] == [
        ("User: I love chess", 1), ("Assistant: ok", 1), ("User: I hate coffee", 2)]
    q = question("User: Any chess openings for me?")
    [ans] = mem.answer([q])
    assert ans.text == "<final_answer>(c)"
    sys_msg, user_msg = ans.prompt
    assert user_msg == {"role": "user", "content": question_message(q)}
    assert sys_msg["content"].split("\n")[1:] == [
        "[session 1] User: I love chess (context: User talks about chess.; keywords: chess, user, likes; "
        "tags: chess, preference, hobby)"]
    assert mem.memory_stats()["items"] == 3


def test_keyword_queries_with_fallback():
    replies = {"q1": '{"keywords": "tea, morning"}', "q2": "no idea"}
    llm = make_llm(lambda p: NO_EVOLVE, query=lambda text: replies["q1" if "drink" in text else "q2"])
    mem, res = system(llm, query_keywords=True, evolve=False, retrieve_k=1)
    mem.reset("c")
    mem.ingest([user("tea")], 0)
    q1, q2 = question("User: What should I drink?", "q1"), question("User: Hello?", "q2")
    mem.answer([q1, q2])
    assert mem._queries == {"q1": "tea, morning", "q2": "User: Hello?"}
    assert ("amem_query", 2) in llm.batches and res.diagnostics == {"amem_bad_query_json": 1}


def test_reset_config_and_bad_args():
    mem, _ = system(make_llm(lambda p: NO_EVOLVE), evolve=False)
    mem.ingest([user("tea")], 0)
    mem.reset("other")
    assert mem.notes == [] and mem.memory_for(question("x")) == "" and mem.memory_stats() == {"items": 0, "tokens": 0}
    cfg = mem.config()
    assert cfg["alpha"] == 0.5 and cfg["evolve_k"] == 5 and cfg["max_links"] == cfg["retrieve_k"] == 10
    with pytest.raises(ValueError):
        system(make_llm(lambda p: NO_EVOLVE), alpha=2)
    with pytest.raises(TypeError):
        system(make_llm(lambda p: NO_EVOLVE), nonsense=1)


def test_copied_placeholders_count_as_missing():
    # what SmolLM2-135M wrote: the format line echoed with its "..." placeholders, then prose
    reply = 'JSON:\n{\n  "keywords": ["..."],\n  "context": "...",\n  "tags": ["...", "..."]\n}\n\nThe user says'
    mem, res = system(make_llm(lambda p: NO_EVOLVE, notes=lambda content: reply), evolve=False)
    mem.reset("c")
    mem.ingest([user("tea")], 0)
    note = mem.notes[0]
    assert (note.keywords, note.context, note.tags) == ([], "General", [])
    assert res.diagnostics == {"amem_note_missing_field": 1}
