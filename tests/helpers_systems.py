"""Systems used by the runner tests (importable as helpers_systems:Class: pytest puts tests/ on sys.path)."""
from __future__ import annotations

from comam_bench.api import Answer, MemorySystem
from comam_bench.llm.hashing import HashEmbedder
from comam_bench.systems.base import AnswersFromMemory, render_messages

LOG: list[tuple] = []
FAIL_AFTER = {"n": -1}  # set by a test: raise KeyboardInterrupt (a Ctrl-C) before the n-th answer of a process


class Recorder(MemorySystem):
    """No LLM: records every call so tests can check the ingestion order; answers the longest option."""

    name = "recorder"
    needs_llm = False

    def __init__(self, resources, **kwargs):
        super().__init__(resources, **kwargs)
        self.answered = 0
        self.seen = 0

    def reset(self, context_id):
        LOG.append(("reset", context_id))
        self.seen = 0

    def ingest(self, messages, start):
        LOG.append(("ingest", start, len(messages)))
        assert start == self.seen
        self.seen += len(messages)

    def answer(self, questions):
        out = []
        for q in questions:
            if self.answered == FAIL_AFTER["n"]:
                raise KeyboardInterrupt
            self.answered += 1
            assert self.seen == q.end_index, "a question must see exactly its prefix"
            LOG.append(("answer", q.id, self.seen))
            longest = max(range(4), key=lambda i: len(q.options[i]))
            out.append(Answer(f"<final_answer>({'abcd'[longest]})"))
        return out

    def memory_stats(self):
        return {"items": self.seen}


class Summarizer(AnswersFromMemory):
    """Calls the LLM once per ingested message (to measure memory reuse against rebuilding)."""

    name = "summarizer"

    def reset(self, context_id):
        self.notes = []

    def ingest(self, messages, start):
        gens = self.llm.generate([[{"role": "user", "content": "Summarize: " + m.content}] for m in messages],
                                 max_new_tokens=8, agent="summarize")
        self.notes += [g.text for g in gens]

    def memory_for(self, question):
        return "\n".join(self.notes)


class Stateful(Recorder):
    """Answers depend on how many questions it answered before on this context (memory changed by recall)."""

    name = "stateful"
    answer_mutates_memory = True

    def reset(self, context_id):
        super().reset(context_id)
        self.recalls = 0

    def answer(self, questions):
        out = super().answer(questions)
        letters = []
        for _ in questions:
            letters.append("abcd"[self.recalls % 4])
            self.recalls += 1
        return [Answer(f"<final_answer>({x})") for x in letters] if out else out


class CountingEmbedder(HashEmbedder):
    """The hash embedder, keeping every text it was asked to embed (tests count embedding calls)."""

    def __init__(self):
        super().__init__()
        self.texts = []

    def embed(self, texts):
        self.texts.extend(texts)
        return super().embed(texts)
