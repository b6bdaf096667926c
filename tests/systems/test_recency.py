"""Recency: exactly the newest tokens of the history, within the window."""
import pytest

from comam_bench import registry
from comam_bench.api import Message, Question, Resources
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.systems.recency import Recency

# Five messages of four words each once rendered ("user: w0 w1 w2"): each line costs 4 + 1 = 5 tokens.
HISTORY = [Message("user" if i % 2 else "assistant", f"m{i}a m{i}b m{i}c") for i in range(5)]


def question(text="What now?"):
    options = ("(a) yes", "(b) no", "(c) maybe", "(d) never")
    return Question(id="q", type="recall_user_shared_facts", raw_type="r", topic="t", text=text,
                    options=options, options_raw=str(list(options)), gold="a", context_id="c", end_index=5)


def make(window=4096, **args):
    llm = ScriptedLLM(context_window=window)
    system = Recency(Resources(llm, lambda: None), **args)
    system.reset("c")
    return system, llm


def test_keeps_exactly_the_newest_tokens():
    all_words = " ".join(f"{m.role}: {m.content}" for m in HISTORY).split()
    for tokens in range(0, 27):
        system, _ = make(tokens=tokens)
        system.ingest(HISTORY, 0)
        memory = system.memory_for(question())
        # whole lines cost 5 each; the rest (less one for the newline) goes to the tail of the next line
        whole, left = divmod(tokens, 5)
        expected = min(4 * whole + max(left - 1, 0), 20)
        assert memory.split() == (all_words[-expected:] if expected else [])


def test_tail_of_a_clipped_message_and_whole_lines():
    system, _ = make(tokens=13)  # two whole lines (10) + 3 - 1 = 2 words of the third newest
    system.ingest(HISTORY, 0)
    assert system.memory_for(question()) == "m2b m2c\nuser: m3a m3b m3c\nassistant: m4a m4b m4c"


def test_default_fills_the_window():
    window = 200
    system, llm = make(window=window)
    history = [Message("user", " ".join(f"w{i}_{j}" for j in range(9))) for i in range(40)]
    system.ingest(history, 0)
    [answer] = system.answer([question()])
    memory = answer.prompt[0]["content"]
    assert "w39_8" in memory and "w0_0" not in memory
    used = llm.count_chat_tokens(answer.prompt) + system.answer_tokens
    assert window - 64 - 16 - 10 <= used <= window  # full up to the reserve, never over


def test_explicit_tokens_capped_by_window_and_counted():
    system, llm = make(window=200, tokens=10_000)
    system.ingest([Message("user", "word " * 500)], 0)
    [answer] = system.answer([question()])
    assert llm.count_chat_tokens(answer.prompt) + system.answer_tokens <= 200
    assert system.resources.diagnostics["recency_clipped_to_window"] == 1


def test_incremental_ingest_and_empty_history():
    system, _ = make(tokens=100)
    [answer] = system.answer([question()])
    assert len(answer.prompt) == 1  # no memory: the question alone
    system.ingest(HISTORY[:2], 0)
    system.ingest(HISTORY[2:], 2)
    assert system.memory_for(question()).split("\n")[0] == "assistant: m0a m0b m0c"
    assert system.memory_stats() == {"items": 5, "tokens": 25}
    assert system.resources.diagnostics == {}


def test_malformed_messages_and_config():
    system, _ = make()
    system.ingest([Message("user", None), Message(None, "x y")], 0)
    assert system.resources.diagnostics == {"recency_bad_message": 2}
    assert system.memory_for(question()) == "user: \nunknown: x y"
    assert system.config() == {"tokens": None, "answer_tokens": 64}


@pytest.mark.parametrize("name,args", [("recency", {}), ("recency-8k", {"tokens": 8192})])
def test_specs_resolve(name, args):
    spec = registry.resolve_system(name)
    assert spec.args == args and registry.system_class(spec) is Recency
