"""A third-party memory system: remembers how many messages it saw and answers the option whose first
word appeared most often in the history. No LLM, so the plugin test runs without a model."""
from collections import Counter

from comam_bench.api import Answer, MemorySystem


class FirstLetterMemory(MemorySystem):
    name = "echo-plugin"
    description = "test plugin: picks the option whose words occur most in the history (no LLM)"
    needs_llm = False

    def __init__(self, resources, bonus: int = 0, **kwargs):
        super().__init__(resources, **kwargs)
        self.bonus = bonus
        self.words = Counter()
        self.seen = 0

    def reset(self, context_id):
        self.words, self.seen = Counter(), 0

    def ingest(self, messages, start):
        assert start == self.seen, "the harness must ingest each message exactly once, in order"
        self.seen += len(messages)
        for m in messages:
            self.words.update(m.content.lower().split())

    def answer(self, questions):
        out = []
        for q in questions:
            scores = [sum(self.words[w] for w in opt.lower().split()[1:]) for opt in q.options]
            out.append(Answer(f"<final_answer>({'abcd'[scores.index(max(scores))]})", info={"seen": self.seen}))
        return out

    def memory_stats(self):
        return {"items": self.seen}

    def config(self):
        return {"bonus": self.bonus}
