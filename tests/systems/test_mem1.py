"""Mem1: chunking at session starts, state rewriting, fallbacks, truncation, and shared step prompts."""
from __future__ import annotations

import re

from comam_bench.api import Message, Question, Resources
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.protocol import question_message
from comam_bench.systems.mem1 import Mem1, SessionChunker, parse_tagged, render_turns


def make_system(responses, **args) -> tuple[Mem1, ScriptedLLM, Resources]:
    llm = ScriptedLLM(responses)
    resources = Resources(llm=llm, embedder_factory=HashEmbedder, seed=7)
    system = Mem1(resources, **args)
    system.reset("ctx")
    return system, llm, resources


def question(text: str = "What should I cook tonight?") -> Question:
    options = "['(a) pasta', '(b) sushi', '(c) salad', '(d) soup']"
    return Question("q1", "acknowledge_latest_preferences", "x", "food", text,
                    ("(a) pasta", "(b) sushi", "(c) salad", "(d) soup"), options, "b", "ctx", 0)


def session(n: int, *turns: str) -> list[Message]:
    msgs = [Message("system", f"Current user persona: persona {n}")]
    for i, t in enumerate(turns):
        msgs.append(Message("user" if i % 2 == 0 else "assistant", ("User: " if i % 2 == 0 else "Assistant: ") + t))
    return msgs


def last_user(chat) -> str:
    return chat[-1]["content"]


def test_state_is_rewritten_at_each_session_start_and_only_the_state_reaches_the_answer():
    def respond(chat):
        text = last_user(chat)
        if "Write the new internal state" in text:
            # the new state names the newest session it has seen, so the chain is checkable
            seen = re.findall(r"persona (\d)", text)
            return f"<think>state after session {seen[-1]}</think>"
        return "<final_answer>(b)"

    system, llm, _ = make_system(respond)
    system.ingest(session(1, "I love jazz.", "Nice!"), 0)
    assert system.state == ""  # session 1 is still open: nothing consolidated yet
    system.ingest(session(2, "I now hate jazz.", "Noted."), 3)
    assert system.state == "state after session 1"
    # the second update saw the previous state, and not session 1's text
    system.ingest(session(3, "Salsa is fun."), 6)
    second = llm.calls[1][0]
    assert "state after session 1" in last_user(second) and "I love jazz" not in last_user(second)
    assert "I now hate jazz" in last_user(second)
    assert llm.calls[1][1]["agent"] == "state"

    answers = system.answer([question()])
    assert system.state == "state after session 3"  # the open session was consolidated before answering
    chat = answers[0].prompt
    assert chat[-1]["content"] == question_message(question())
    assert "state after session 3" in chat[0]["content"]
    assert all("jazz" not in m["content"] and "Salsa" not in m["content"] for m in chat)
    assert llm.calls[-1][1]["agent"] == "answer"


def test_open_session_is_consolidated_once_per_position_then_continues():
    system, llm, _ = make_system(lambda chat: "<think>s</think>" if "internal state" in last_user(chat) else "(a)")
    system.ingest(session(1, "one", "two"), 0)
    system.answer([question()])
    system.answer([question("Another question?")])  # same position: nothing pending
    assert sum(c[1]["agent"] == "state" for c in llm.calls) == 1
    system.ingest([Message("user", "User: three")], 3)  # the same session continues
    system.answer([question()])
    state_calls = [c[0] for c in llm.calls if c[1]["agent"] == "state"]
    assert len(state_calls) == 2
    assert "three" in last_user(state_calls[1]) and "one" not in last_user(state_calls[1])


def test_missing_tag_uses_whole_output_and_empty_output_keeps_previous_state():
    outputs = iter(["just prose, no tags", "   ", "<think>cut off by the limit"])
    system, _, resources = make_system(lambda chat: next(outputs))
    assert system.apply("", "just prose, no tags") == "just prose, no tags"
    assert resources.diagnostics["mem1_state_tag_missing"] == 1
    assert system.apply("old state", "   ") == "old state"
    assert resources.diagnostics["mem1_state_empty"] == 1
    assert system.apply("", "<think>cut off by the limit") == "cut off by the limit"
    assert resources.diagnostics["mem1_state_unclosed"] == 1


def test_the_last_complete_block_wins():
    assert parse_tagged("<think>echo of old</think> then <think>new</think>", "think") == ("new", None)


def test_over_long_state_is_truncated_to_the_budget_and_counted():
    system, _, resources = make_system("unused", max_state_tokens=5)
    state = system.apply("", "<think>" + " ".join(f"w{i}" for i in range(12)) + "</think>")
    assert state == "w0 w1 w2 w3 w4"
    assert resources.diagnostics["mem1_state_truncated"] == 1
    assert system.memory_stats() == {"items": 0, "tokens": 0}  # apply is a pure step: state unchanged


def test_step_prompts_are_the_same_on_the_inference_and_training_paths():
    outputs = iter(["<think>A</think>", "<think>B</think>", "<final_answer>(a)"])
    system, llm, _ = make_system(lambda chat: next(outputs), record_steps=True, state_tag="think")
    s1, s2 = session(1, "I like tea."), session(2, "I like coffee now.")
    system.ingest(s1 + s2, 0)
    system.answer([question()])

    trace = system.trace
    assert [s.policy for s in trace] == ["state", "state", "answer"]
    # a trainer rebuilds each prompt from the previous state and the chunk text
    assert trace[0].prompt == system.step_prompt("", render_turns(s1))
    assert trace[1].prompt == system.step_prompt("A", render_turns(s2))
    assert trace[2].prompt == system.answer_prompt("B", question())
    assert [c[0] for c in llm.calls] == [s.prompt for s in trace]  # exactly what the model saw
    assert system.apply("A", trace[1].output) == "B"


def test_chunker_splits_a_long_session_and_a_long_message():
    count = lambda text: len(text.split())  # noqa: E731 - the scripted token count
    chunker = SessionChunker(limit=6, count=count)
    closed = chunker.add([Message("system", "persona"), Message("user", "a b c"), Message("user", "d e f")])
    assert [len(c.messages) for c in closed] == [2]  # 2 + 4 tokens fill the chunk; "d e f" opens the next
    long = chunker.add([Message("user", " ".join("x" * 12))])
    assert all(count(m.content) <= 5 for c in long for m in c.messages)
    assert chunker.flush() is not None and chunker.flush() is None
    assert all(c.session == 0 for c in closed + long)


def test_chunks_are_limited_by_the_window():
    system, llm, resources = make_system("<think>s</think>", chunk_tokens=100000)
    llm.context_window = 2000
    system.ingest(session(1, "hello"), 0)
    assert system._chunker().limit < 2000
    assert resources.diagnostics["mem1_chunk_limited_by_window"] == 1


def test_config_and_policies():
    system, _, _ = make_system("x", max_state_tokens=128)
    assert Mem1.trainable and Mem1.policies == ("state", "answer")
    assert system.config()["max_state_tokens"] == 128 and system.config()["state_tag"] == "think"
