"""Memory-R1: manager operations on the bank, invalid outputs, the answer agent's selection, shared steps."""
from __future__ import annotations

import json
import re

from comam_bench.api import Message, Question, Resources
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import memory_chat, question_message
from comam_bench.systems.memory_r1 import (
    EXTRACT_SYSTEM, MANAGER_SYSTEM, Bank, MemoryR1, Operation, apply_operations, parse_operations,
    parse_selection,
)


def role_of(chat) -> str:
    system = chat[0]["content"]
    return {EXTRACT_SYSTEM: "extract", MANAGER_SYSTEM: "manager"}.get(system, "answer")


def scripted(facts=None, manager=None, answer=None) -> ScriptedLLM:
    """Routes each chat to a responder by its system prompt; `facts` maps a conversation word to a list."""
    def respond(chat):
        role = role_of(chat)
        if role == "extract":
            for word, listed in (facts or {}).items():
                if word in chat[-1]["content"]:
                    return json.dumps(listed)
            return "[]"
        if role == "manager":
            return manager(chat) if callable(manager) else manager.pop(0)
        return answer(chat) if answer else "<selected></selected> <final_answer>(a)"
    return ScriptedLLM(respond)


def make_system(llm, **args) -> tuple[MemoryR1, Resources]:
    resources = Resources(llm=llm, embedder_factory=lambda: HashEmbedder(64), seed=3)
    system = MemoryR1(resources, **args)
    system.reset("ctx")
    return system, resources


def session(n: int, text: str) -> list[Message]:
    return [Message("system", f"Current user persona: p{n}"), Message("user", f"User: {text}"),
            Message("assistant", "Assistant: Noted.")]


def question(text: str = "Which food should I order tonight?") -> Question:
    options = "['(a) pasta', '(b) sushi', '(c) salad', '(d) soup']"
    return Question("q1", "acknowledge_latest_preferences", "x", "food", text,
                    ("(a) pasta", "(b) sushi", "(c) salad", "(d) soup"), options, "b", "ctx", 0)


def texts(bank: Bank) -> list[str]:
    return [m.text for m in bank.items]


def shown_number(chat, needle: str) -> int:
    """The number a prompt shows for the memory containing `needle` (as a scripted model would read it)."""
    for line in chat[0]["content"].splitlines() + chat[-1]["content"].splitlines():
        match = re.match(r"\[?(\d+)[\]:]\s.*" + re.escape(needle), line)
        if match:
            return int(match.group(1))
    raise AssertionError(f"{needle!r} is not shown in the prompt")


def test_manager_operations_are_applied_to_the_bank():
    def manager(chat):
        new_facts = chat[-1]["content"].split("New facts:")[1]
        if "quit hiking" in new_facts:  # DELETE by the number the prompt shows for the memory
            return json.dumps([{"op": "DELETE", "id": shown_number(chat, "hikes")}])
        if "hiking" in new_facts:
            return '[{"op": "ADD", "text": "The user hikes."}]'
        if "sushi" in new_facts:
            n = shown_number(chat, "likes pasta")
            return json.dumps([{"op": "UPDATE", "id": n, "text": "The user moved from pasta to sushi."}])
        if "pasta" in new_facts:
            return '[{"op": "ADD", "text": "The user likes pasta."}]'
        return '{"op": "NOOP"}'

    facts = {"pasta": ["The user likes pasta."], "Sushi": ["The user now prefers sushi."],
             "mountains": ["The user goes hiking."], "knee": ["The user quit hiking."], "weather": ["It rains."]}
    system, _ = make_system(scripted(facts, manager))
    system.ingest(session(1, "I love pasta."), 0)
    system.ingest(session(2, "Sushi is my new favourite."), 3)
    system.ingest(session(3, "I went to the mountains."), 6)
    system.answer([question()])  # consolidates the open session 3
    assert texts(system.bank) == ["The user moved from pasta to sushi.", "The user hikes."]
    assert [m.session for m in system.bank.items] == [1, 2]  # the update re-dates the memory
    system.ingest(session(4, "My knee hurts, so no more trips.") + session(5, "Nice weather."), 9)
    assert texts(system.bank) == ["The user moved from pasta to sushi."]  # deleted; NOOP changed nothing


def test_invalid_ops_and_ids_are_counted_and_handled():
    bank = Bank().add("A", 0).add("B", 0)
    ops = [Operation("MERGE", 1, "x"),            # unknown op: skipped
           Operation("UPDATE", 9, "C"),           # id out of range: its text is added
           Operation("DELETE", 0, ""),            # ids start at 1: skipped
           Operation("ADD", None, ""),            # nothing to add: skipped
           Operation("NONE"),                     # mem0's spelling of NOOP
           Operation("DELETE", 2, "")]            # a valid delete of "B"
    new, problems = apply_operations(bank, [0, 1], ops, session=4)
    assert texts(new) == ["A", "C"]
    assert problems == ["invalid_op", "invalid_id", "invalid_id", "op_without_text"]
    assert texts(bank) == ["A", "B"]  # the old bank is untouched (trainers branch from snapshots)


def test_stale_ids_in_one_batch_and_unparsable_manager_output():
    bank = Bank().add("The user likes tea.", 0)
    system, resources = make_system(scripted())
    # a second decision of the same batch refers to the memory the first one deleted
    after = system.apply_manager(bank, [0], ["f1"], '[{"op": "DELETE", "id": 1}]', 1)
    after = system.apply_manager(after, [0], ["f2"], '[{"op": "UPDATE", "id": 1, "text": "Tea, then coffee."}]', 1)
    assert texts(after) == ["Tea, then coffee."] and after.items[0].id == 1
    assert resources.diagnostics["memory_r1_stale_id"] == 1
    # garbage: every fact of the call is added
    after = system.apply_manager(bank, [0], ["f1", "f2"], "I think we should add it!!", 2)
    assert texts(after) == ["The user likes tea.", "f1", "f2"]
    assert resources.diagnostics["memory_r1_manager_unparsed"] == 1
    # JSON, but not one operation it knows (a small model echoing a memory): the same fallback
    after = system.apply_manager(bank, [0], ["f3"], '{"id": 1, "text": "The user likes tea."}', 2)
    assert texts(after) == ["The user likes tea.", "f3"]
    assert resources.diagnostics["memory_r1_manager_unparsed"] == 2
    # an empty list is a valid decision: nothing changes
    assert system.apply_manager(bank, [0], ["f4"], "[]", 2) == bank


def test_parse_operations_accepts_common_shapes():
    assert parse_operations('{"memory": [{"event": "update", "id": "2", "text": "x"}]}') == [Operation("UPDATE", 2, "x")]
    assert parse_operations('```json\n{"op": "ADD", "memory": "y"}\n```') == [Operation("ADD", None, "y")]
    assert parse_operations("no json here") is None


def test_unparsable_extraction_falls_back_to_user_messages():
    llm = ScriptedLLM(lambda chat: "Sure! Here are facts: none" if role_of(chat) == "extract"
                      else '[{"op": "ADD", "text": "kept"}]')
    system, resources = make_system(llm)
    system.ingest(session(1, "I adopted a cat named Scout.") + [Message("user", "Patient: I moved to Oslo.")], 0)
    system.answer([question()])
    managed = [c[0][-1]["content"] for c in llm.calls if role_of(c[0]) == "manager"]
    assert any("- I adopted a cat named Scout." in m for m in managed)
    assert any("- I moved to Oslo." in m for m in managed)
    assert resources.diagnostics["memory_r1_extract_unparsed"] == 1


def test_answer_agent_selection_maps_to_the_memories_the_model_chose():
    def answer(chat):
        n = shown_number(chat, "sushi")
        return f"<selected>{n}, 99</selected> The user prefers sushi now. <final_answer>(b)"

    system, resources = make_system(scripted(answer=answer), retrieve_k=60)
    for i, t in enumerate(["The user likes pasta.", "The user switched to sushi.", "The user hikes."]):
        system.bank = system.bank.add(t, i)
    [ans] = system.answer([question()])
    assert [system.bank.get(i).text for i in ans.info["selected"]] == ["The user switched to sushi."]
    assert resources.diagnostics["memory_r1_selected_invalid_id"] == 1  # 99 was never shown
    assert ans.prompt[-1]["content"] == question_message(question())
    assert "(session 2) The user switched to sushi." in ans.prompt[0]["content"]
    assert ans.text.endswith("<final_answer>(b)")


def test_retrieval_keeps_the_nearest_k_oldest_first():
    system, _ = make_system(scripted(), retrieve_k=2)
    for i, t in enumerate(["order food tonight sushi", "my bike is red", "food order pizza tonight"]):
        system.bank = system.bank.add(t, 5 - i)
    ids = system.retrieve(system.bank, question("order food tonight"))
    assert [system.bank.get(i).text for i in ids] == ["food order pizza tonight", "order food tonight sushi"]


def test_separate_distillation_answers_from_the_selected_memories_only():
    def answer(chat):
        if "Reply only with their numbers" in chat[0]["content"]:
            return f"<selected>{shown_number(chat, 'sushi')}</selected>"
        return "<final_answer>(b)"

    system, _ = make_system(scripted(answer=answer), distill="separate")
    system.bank = system.bank.add("The user likes pasta.", 0).add("The user switched to sushi.", 1)
    [ans] = system.answer([question()])
    assert ans.prompt == memory_chat("(session 2) The user switched to sushi.", question())
    assert [c[1]["agent"] for c in system.llm.calls] == ["answer", "answer"]


def test_no_selection_block_is_counted_and_keeps_every_memory_when_separate():
    system, resources = make_system(scripted(answer=lambda chat: "(b)"), distill="separate")
    system.bank = system.bank.add("The user likes pasta.", 0).add("The user switched to sushi.", 1)
    [ans] = system.answer([question()])
    assert "pasta" in ans.prompt[0]["content"] and "sushi" in ans.prompt[0]["content"]
    assert resources.diagnostics["memory_r1_no_selection"] == 1


def test_step_prompts_are_the_same_on_the_inference_and_training_paths():
    facts = {"tea": ["The user likes tea."], "Coffee": ["The user now likes coffee.", "The user drinks it black."]}

    def manager(chat):
        if "(none yet)" in chat[-1]["content"]:
            return '[{"op": "ADD", "text": "' + chat[-1]["content"].split("- ")[-1] + '"}]'
        return json.dumps([{"op": "UPDATE", "id": 1, "text": "Tea, then coffee."}])

    system, _ = make_system(scripted(facts, manager), record_steps=True, facts_per_call=1)
    system.ingest(session(1, "I like tea."), 0)
    system.ingest(session(2, "Coffee is better."), 3)
    before = system.bank  # immutable snapshot: the bank session 2's manager decisions start from
    system.answer([question()])

    steps = [s for s in system.trace if s.policy == "manager" and s.info["session"] == 1]
    assert len(steps) == 2  # one decision per fact
    bank = before
    for step, fact in zip(steps, facts["Coffee"]):
        ids = step.info["shown_ids"]
        assert step.prompt == system.manager_prompt([fact], [before.get(i).text for i in ids])
        bank = system.apply_manager(bank, ids, [fact], step.output, 1)
    assert bank == system.bank
    answer_step = system.trace[-1]
    assert answer_step.policy == "answer"
    shown = [system._line(system.bank.get(i)) for i in system.retrieve(system.bank, question())]
    assert answer_step.prompt == system.answer_prompt(shown, question())
    assert [c[0] for c in system.llm.calls] == [s.prompt for s in system.trace]
    assert {c[1]["agent"] for c in system.llm.calls} == {"extract", "manager", "answer"}


def test_parse_selection():
    assert parse_selection("<selected>3, 1, 3</selected>", 3) == ([3, 1], 0)
    assert parse_selection("<selected>2, 7", 3) == ([2], 1)  # cut off by the token limit
    assert parse_selection("no block", 3) == (None, 0)


def test_config_and_policies():
    system, _ = make_system(scripted(), retrieve_k=30)
    assert MemoryR1.trainable and MemoryR1.policies == ("manager", "answer")
    assert system.config()["retrieve_k"] == 30 and system.memory_stats() == {"items": 0, "tokens": 0}
