"""Mem0 (classic): events applied to the store, integer-id mapping, hallucinated ids, bad-JSON fallbacks."""
import json
import re

from comam_bench.api import Message, Question, Resources
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import question_message
from comam_bench.systems.mem0 import EXTRACT_PROMPT, Mem0


def shown_memories(chat):
    """The {"id","text"} list the update prompt showed (the line after 'Existing memories:')."""
    line = [ln for ln in chat[-1]["content"].split("\n") if ln.startswith("Existing memories: ")][-1]
    body = line[len("Existing memories: "):]
    return json.loads(body) if body.startswith("[") else []


def shown_facts(chat):
    line = [ln for ln in chat[-1]["content"].split("\n") if ln.startswith("New facts: ")][-1]
    return json.loads(line[len("New facts: "):])


def make_llm(facts_for, decide, answer="<final_answer>(a)"):
    """facts_for(unit text) -> extraction reply; decide(shown, facts) -> update reply."""
    def respond(chat):
        if chat[0]["content"] == EXTRACT_PROMPT:
            return facts_for(chat[-1]["content"])
        if chat[-1]["content"].startswith("You manage a memory"):
            return decide(shown_memories(chat), shown_facts(chat))
        return answer
    return ScriptedLLM(respond)


def add_all(shown, facts):
    return json.dumps({"memory": [{"id": str(len(shown) + i), "text": f, "event": "ADD"} for i, f in enumerate(facts)]})


def system(llm, **args):
    res = Resources(llm=llm, embedder_factory=lambda: HashEmbedder(64))
    return Mem0(res, **args), res


def persona():
    return Message("system", "Current user persona: Ana, a nurse.")


def question(text="User: What drink should I order?"):
    return Question("q1", "acknowledge_latest_preferences", "x", "food", text, ("(a) x", "(b) y", "(c) z", "(d) w"),
                    "['(a) x', '(b) y', '(c) z', '(d) w']", "a", "ctx", 5)


def facts_by_message(table):
    """Extraction reply from a {substring of the input: [facts]} table."""
    def reply(text):
        for key, facts in table.items():
            if key in text:
                return json.dumps({"facts": facts})
        return '{"facts": []}'
    return reply


def test_add_update_delete_none_applied_to_store():
    def decide(shown, facts):
        ids = {m["text"]: m["id"] for m in shown}
        if not shown:
            return add_all(shown, facts)
        return json.dumps({"memory": [
            {"id": ids["Loves tea"], "text": "Loves tea", "event": "DELETE"},
            {"id": ids["Has a cat"], "text": "Has a cat named Tom", "event": "UPDATE", "old_memory": "Has a cat"},
            {"id": ids["Works as a teacher"], "text": "Works as a teacher", "event": "NONE"},
            {"id": str(len(shown)), "text": "Dislikes tea now", "event": "ADD"}]})
    llm = make_llm(facts_by_message({"love tea": ["Loves tea", "Has a cat", "Works as a teacher"],
                                     "hate tea": ["Dislikes tea now", "Cat is named Tom"]}), decide)
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([persona(), Message("user", "User: I love tea and my cat."),
                Message("assistant", "Assistant: Nice!")], 0)
    assert sorted(m.text for m in mem.store.values()) == ["Has a cat", "Loves tea", "Works as a teacher"]
    cat_id = next(m.id for m in mem.store.values() if m.text == "Has a cat")
    mem.ingest([persona(), Message("user", "User: Now I hate tea. My cat is Tom.")], 3)
    assert sorted(m.text for m in mem.store.values()) == ["Dislikes tea now", "Has a cat named Tom", "Works as a teacher"]
    cat = mem.store[cat_id]  # UPDATE kept the real id, rewrote the text and moved the session stamp
    assert (cat.text, cat.created, cat.updated) == ("Has a cat named Tom", 1, 2)
    assert res.diagnostics == {}
    assert mem.memory_stats() == {"items": 3, "tokens": 3 + 5 + 4}


def test_integer_ids_are_local_and_map_back_to_real_ids():
    seen = {}

    def decide(shown, facts):
        if facts == ["Rides a red bike"]:
            seen["shown"] = shown
            target = next(m["id"] for m in shown if m["text"] == "Rides a bike")
            return json.dumps({"memory": [{"id": target, "text": "Rides a red bike", "event": "UPDATE"}]})
        return add_all(shown, facts)
    llm = make_llm(facts_by_message({"one": ["Likes soup"], "two": ["Rides a bike"], "three": ["Plays chess"],
                                     "four": ["Rides a red bike"]}), decide)
    mem, _ = system(llm, search_k=5)
    mem.reset("c")
    for word in ("one", "two", "three"):
        mem.ingest([Message("user", f"User: message {word}")], 0)
    del mem.store[0]  # real ids now start at 1, so local "0" cannot be a real id by accident
    mem.ingest([Message("user", "User: message four")], 3)
    assert sorted(m["id"] for m in seen["shown"]) == ["0", "1"]  # two memories left, shown as 0 and 1
    assert {m.id: m.text for m in mem.store.values()} == {1: "Rides a red bike", 2: "Plays chess"}


def test_search_k_limits_the_pool_per_fact():
    shown_sizes = []

    def decide(shown, facts):
        shown_sizes.append(len(shown))
        return add_all(shown, facts)
    llm = make_llm(facts_by_message({f"m{i} ": [f"fact number {i}"] for i in range(6)}), decide)
    mem, _ = system(llm, search_k=2)
    mem.reset("c")
    for i in range(6):
        mem.ingest([Message("user", f"User: m{i} here")], i)
    assert shown_sizes == [0, 1, 2, 2, 2, 2]


def test_hallucinated_ids_are_counted_update_becomes_add_delete_ignored():
    def decide(shown, facts):
        if not shown:
            return add_all(shown, facts)
        return json.dumps({"memory": [{"id": "99", "text": "Likes green tea", "event": "UPDATE"},
                                      {"id": "42", "text": "", "event": "DELETE"},
                                      {"id": "0", "text": "whatever", "event": "EXPLODE"},
                                      {"id": "1", "text": "", "event": "ADD"}]})
    llm = make_llm(facts_by_message({"tea": ["Likes tea"], "green": ["Likes green tea"]}), decide)
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([Message("user", "User: tea please")], 0)
    mem.ingest([Message("user", "User: green tea please")], 1)
    assert sorted(m.text for m in mem.store.values()) == ["Likes green tea", "Likes tea"]
    assert res.diagnostics == {"mem0_unknown_id": 2, "mem0_bad_event": 1, "mem0_empty_text": 1}


def test_update_of_an_id_deleted_in_the_same_reply_is_kept_as_new():
    def decide(shown, facts):
        if not shown:
            return add_all(shown, facts)
        return json.dumps({"memory": [{"id": "0", "text": "x", "event": "DELETE"},
                                      {"id": "0", "text": "Drinks coffee", "event": "UPDATE"}]})
    llm = make_llm(facts_by_message({"tea": ["Drinks tea"], "coffee": ["Drinks coffee"]}), decide)
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([Message("user", "User: tea")], 0)
    mem.ingest([Message("user", "User: coffee")], 1)
    assert [m.text for m in mem.store.values()] == ["Drinks coffee"]
    assert res.diagnostics == {"mem0_unknown_id": 1}


def test_bad_extraction_json_falls_back_to_the_user_message():
    llm = make_llm(lambda text: "Sure! The user likes tea.", lambda shown, facts: "not json at all")
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([Message("user", "User: I like tea."), Message("assistant", "Assistant: Great.")], 0)
    assert [m.text for m in mem.store.values()] == ["User: I like tea."]
    assert res.diagnostics == {"mem0_bad_facts_json": 1, "mem0_bad_update_json": 1}


def test_fallbacks_off_follow_the_source():
    llm = make_llm(lambda text: "garbage", lambda shown, facts: "garbage")
    mem, res = system(llm, extraction_fallback="none")
    mem.reset("c")
    mem.ingest([Message("user", "User: I like tea.")], 0)
    assert mem.store == {} and [b[0] for b in llm.batches] == ["mem0_extract"]  # no facts, no update call
    llm2 = make_llm(facts_by_message({"tea": ["Likes tea"]}), lambda shown, facts: "{broken")
    mem2, res2 = system(llm2, update_fallback="none")
    mem2.reset("c")
    mem2.ingest([Message("user", "User: I like tea.")], 0)
    assert mem2.store == {} and res2.diagnostics == {"mem0_bad_update_json": 1}


def test_valid_empty_facts_skip_the_update_call():
    llm = make_llm(lambda text: '```json\n{"facts": []}\n```', lambda shown, facts: 1 / 0)
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([Message("user", "User: Hi!"), Message("assistant", "Assistant: Hello.")], 0)
    assert mem.store == {} and res.diagnostics == {}


def test_units_exchange_and_message_and_batched_extraction():
    llm = make_llm(lambda text: '{"facts": []}', lambda shown, facts: "")
    mem, _ = system(llm)
    mem.reset("c")
    msgs = [Message("assistant", "Assistant: leftover reply"), persona(), Message("user", "User: a"),
            Message("assistant", "Assistant: b"), Message("user", "User: c"), persona(), Message("user", "User: d")]
    units = mem.split_units(msgs)
    assert [([m.content for m in u.messages], u.session) for u in units] == [
        (["Assistant: leftover reply"], 0), (["User: a", "Assistant: b"], 1), (["User: c"], 1), (["User: d"], 2)]
    mem.reset("c")
    mem.ingest(msgs, 0)
    assert llm.batches == [("mem0_extract", 4)]  # all units of an ingest call in one generate()
    per_message, _ = system(llm, unit="message", include_system=True)
    units = per_message.split_units(msgs)
    assert [[m.content for m in u.messages] for u in units] == [
        [msgs[1].content], ["User: a"], ["User: c"], [msgs[1].content], ["User: d"]]


def test_answer_uses_dense_top_k_under_the_standard_prompt():
    facts = {"tea": ["Drinks green tea every morning"], "run": ["Runs marathons"], "cat": ["Owns a cat"]}
    llm = make_llm(facts_by_message(facts), add_all, answer="I pick <final_answer>(b)")
    mem, _ = system(llm, retrieve_k=1)
    mem.reset("c")
    mem.ingest([persona(), Message("user", "User: tea"), Message("user", "User: run"), Message("user", "User: cat")], 0)
    q = question("User: Which tea should I drink in the morning?")
    [ans] = mem.answer([q])
    assert ans.text == "I pick <final_answer>(b)"
    system_msg, user_msg = ans.prompt
    assert system_msg["role"] == "system" and user_msg == {"role": "user", "content": question_message(q)}
    memory_lines = system_msg["content"].split("\n")[1:]
    assert memory_lines == ["- [session 1] Drinks green tea every morning"]
    assert llm.calls[-1][1]["agent"] == "answer"


def test_memory_is_fit_to_the_window_best_first():
    facts = {f"m{i} ": [f"tea fact {i} " + "pad " * 20] for i in range(4)}
    llm = make_llm(facts_by_message(facts), add_all)
    llm.context_window = 64 + 64 + 30 + 30  # room for one memory line of ~25 words besides the question
    mem, res = system(llm, retrieve_k=4, show_session=False)
    mem.reset("c")
    for i in range(4):
        mem.ingest([Message("user", f"User: m{i} x")], i)
    text = mem.memory_for(question("User: tea fact 2"))
    assert re.fullmatch(r"- tea fact 2 (pad ){19}pad", text)
    assert res.diagnostics == {"mem0_memory_truncated": 1}


def test_reset_forgets_and_config_lists_the_knobs():
    llm = make_llm(facts_by_message({"tea": ["Likes tea"]}), add_all)
    mem, _ = system(llm, retrieve_k=3)
    mem.ingest([persona(), Message("user", "User: tea")], 0)
    assert len(mem.store) == 1 and mem.session == 1
    mem.reset("other")
    assert mem.store == {} and mem.session == 0 and mem.memory_for(question()) == ""
    cfg = mem.config()
    assert cfg["retrieve_k"] == 3 and cfg["search_k"] == 5 and cfg["unit"] == "exchange"


def test_copied_examples_and_echoed_prompts_from_a_small_model():
    # shapes SmolLM2-135M produced: the fact list echoed before a cut-off answer, few-shot examples copied
    def extraction(text):
        return '{"facts": ["Likes tea", "Name is Ana", "Likes tea", "Likes tea'
    def decide(shown, facts):
        return ('Existing memories: none\nNew facts: ["Likes tea"]\nOutput:\n{"memory": ['
                '{"id": "0", "text": "Likes tea", "event": "ADD"}, '
                '{"id": "1", "text": "Loves cheese pizza", "event": "ADD"}, {"id": "2", "text": "Likes te')
    mem, res = system(make_llm(extraction, decide))
    mem.reset("c")
    mem.ingest([Message("user", "User: I like tea.")], 0)
    assert [m.text for m in mem.store.values()] == ["Likes tea"]
    # "Name is Ana" dropped from the facts, "Loves cheese pizza" from the events; the cut-off last entry
    # has no event
    assert res.diagnostics == {"mem0_example_copied": 2, "mem0_bad_event": 1}


def test_a_list_of_strings_is_no_update_answer():
    mem, res = system(make_llm(facts_by_message({"tea": ["Likes tea"]}),
                               lambda shown, facts: 'The new facts are: ["Likes tea", "Likes tea"]'))
    mem.reset("c")
    mem.ingest([Message("user", "User: tea")], 0)
    assert [m.text for m in mem.store.values()] == ["Likes tea"]  # update_fallback="add"
    assert res.diagnostics == {"mem0_bad_update_json": 1}


def test_memories_copied_without_events_and_placeholder_facts_trigger_the_fallbacks():
    def decide(shown, facts):  # echoes the memories as a bare list, then copies them without events
        return ('Existing memories: [{"id": "0", "text": "Likes tea", "event": "DELETE"}]\nOutput:\n'
                '{"memory": [{"id": "0", "text": "Likes tea"}]}')
    llm = make_llm(facts_by_message({"tea": ["Likes tea"], "cake": ["Bakes cake"]}), decide)
    mem, res = system(llm)
    mem.reset("c")
    mem.ingest([Message("user", "User: tea")], 0)
    mem.ingest([Message("user", "User: cake")], 1)
    # the echoed DELETE was not applied; both replies fell back to adding the facts
    assert sorted(m.text for m in mem.store.values()) == ["Bakes cake", "Likes tea"]
    assert res.diagnostics == {"mem0_bad_update_json": 2}
    placeholders = make_llm(lambda text: '{"facts": ["...", "..."]}', add_all)
    mem2, res2 = system(placeholders)
    mem2.reset("c")
    mem2.ingest([Message("user", "User: I bake on Sundays.")], 0)
    assert [m.text for m in mem2.store.values()] == ["User: I bake on Sundays."]
    assert res2.diagnostics == {"mem0_bad_facts_json": 1}
