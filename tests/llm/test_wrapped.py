"""comam_bench.llm.wrapped: the harness's LLM wrappers (metering, a lock, a batching queue) answer as the
model they wrap for everything they do not change; only the metering one closes it."""
import pytest

from comam_bench.llm.meter import Meter, MeteredLLM
from comam_bench.llm.scripted import ScriptedLLM
from comam_bench.llm.shared import BatchingLLM, LockedLLM


class Closable(ScriptedLLM):
    closed = 0

    def count_chat_tokens(self, chat):
        return 1000 + super().count_chat_tokens(chat)  # not LLM's default: shows the inner one answered

    def identity(self):
        return {"spec": self.spec, "weights": "w"}

    def close(self):
        self.closed += 1


@pytest.mark.parametrize("wrap", [lambda m: MeteredLLM(m, Meter()), LockedLLM, BatchingLLM])
def test_wrappers_answer_as_the_inner_model(wrap):
    inner = Closable(context_window=1234, spec="scripted:x")
    llm = wrap(inner)
    chat = [{"role": "user", "content": "two words"}]
    assert (llm.spec, llm.context_window, llm.supports_prefix) == ("scripted:x", 1234, True)
    assert llm.count_tokens("two words") == inner.count_tokens("two words")
    assert llm.count_chat_tokens(chat) == inner.count_chat_tokens(chat) > 1000
    assert llm.identity() == {"spec": "scripted:x", "weights": "w"}
    assert [g.text for g in llm.generate([chat])] == [g.text for g in inner.generate([chat])]
    llm.close()
    # the metered model owns its model; a shared one is closed once, by the run that loaded it
    assert inner.closed == (1 if isinstance(llm, MeteredLLM) else 0)
