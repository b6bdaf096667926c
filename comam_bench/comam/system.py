"""CoMAM as a memory system: extraction, profile and retrieval agents over a PersonaMem history.

Histories are longer than the window, so memory is built session by session (a session starts at its
"Current user persona" system message): each finished session is extracted once into an M_f entry
(every session finished by one ingest call goes into a single batched call), and the profile is updated
incrementally, profile_i = profile agent(profile_{i-1}, entry_i). The session still open when questions
arrive is extracted (and, with profile_open_session, folded into the profile) once per position: the
result is cached by (session, length), so every question batch at that position reuses it and the
session, if it closes at that same length, is not extracted again. All questions at a position go to the
retrieval agent in one call, each with the profile and the M_f entries that fit `memory_tokens`, ranked
against the question (see memory.py). Per-agent cost is tagged extraction / profile / retrieval (or
answer, without a retrieval agent).

Arguments: see config.CoMAMArgs; `checkpoint=DIR` loads a trainer's checkpoint (checkpoint.py), and
arguments given explicitly override what the checkpoint sets.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

from comam_bench.api import Answer, Message, MemorySystem, Question, Resources
from comam_bench.comam.agents import AGENTS, Pipeline
from comam_bench.comam.checkpoint import load_checkpoint
from comam_bench.comam.config import CoMAMArgs
from comam_bench.comam.memory import Entry, Memory, is_session_start, render_session
from comam_bench.comam.models import AgentModels
from comam_bench.comam.prompts import PROMPT_VERSION
from comam_bench.comam.states import RetrievalState
from comam_bench.protocol import as_likelihood_chat, memory_likelihood_chat

LONG_HISTORY = ("per-session extraction; profile updated per session; retrieval sees the profile plus "
                "ranked M_f entries within memory_tokens")


@dataclass(frozen=True)
class _Built:
    """The open session's memory at one length: its entry and the profile after it."""

    entry: str
    previous_profile: str
    profile: str


class CoMAM(MemorySystem):
    """Extraction -> profile -> retrieval agents, one model (or adapter) per agent."""

    name = "comam"
    description = "CoMAM: extraction, profile and retrieval agents (per-session M_f, incremental profile)"
    trainable = True
    open_ended = True  # the retrieval agent writes a free-text answer in <final_answer> (prompts.retrieval_prompt)
    policies: ClassVar[tuple[str, ...]] = AGENTS
    arguments: ClassVar[type] = CoMAMArgs  # what **kwargs accepts (comam_bench.args reads it)

    @classmethod
    def default_model(cls, args: dict[str, Any]) -> str | None:
        """A checkpoint's base model, unless the arguments name the policy model themselves."""
        if args.get("checkpoint") and not args.get("policy_model"):
            return load_checkpoint(args["checkpoint"]).base_model
        return None

    def __init__(self, resources: Resources, checkpoint: str | None = None, **kwargs: Any) -> None:
        super().__init__(resources)
        self.checkpoint = load_checkpoint(checkpoint) if checkpoint else None
        base = self.checkpoint.system_kwargs() if self.checkpoint else {}
        self.args = CoMAMArgs.from_mapping({**base, **kwargs})
        self.models = AgentModels(resources, self.args.agent_models(), self.args.agent_adapters())
        self.pipeline = Pipeline(self.models.llms, resources, self.args.settings())
        self.reset("")

    # ------------------------------------------------------------------ harness interface
    def reset(self, context_id: str) -> None:
        self.memory = Memory()  # finished sessions only
        self.session = 0  # index of the open session
        self.open: list[Message] = []
        self._built: dict[tuple[int, int], _Built] = {}  # (session, length) -> open-session memory
        self.pipeline.embeddings.clear()

    def ingest(self, messages: Sequence[Message], start: int) -> None:
        finished: list[tuple[int, list[Message]]] = []
        for m in messages:
            if is_session_start(m) and self.open:
                finished.append((self.session, self.open))
                self.session, self.open = self.session + 1, []
            self.open.append(m)
        if finished:
            self._close(finished)

    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        if self.args.retrieval_format == "structured" and any(not q.options for q in questions):
            raise ValueError("CoMAM's retrieval_format=structured chooses one of four letters, and these questions "
                             "are open-ended (no options); use retrieval_format=paper for an open-ended task")
        memory = self.current_memory()
        results = self.pipeline.respond(memory, questions)
        outputs = self.agent_outputs(memory)
        return [Answer(r.text, r.prompt, {"agent": r.agent, "information": r.next_state.information,
                                          "problems": list(r.problems), "agent_outputs": outputs, **r.info})
                for r in results]

    def agent_outputs(self, memory: Memory) -> dict[str, str]:
        """What the extraction and profile agents produced for the memory an answer is given (the last
        agent's output is the answer itself); the runner keeps these in memory.jsonl, not in samples."""
        agents = self.pipeline.settings.agents
        outputs = {}
        if "extraction" in agents:
            outputs["extraction"] = "\n".join(e.line() for e in memory.entries)
        if "profile" in agents:
            outputs["profile"] = memory.profile
        return outputs

    def likelihood_answer(self, questions: Sequence[Question]) -> list[Answer]:
        """The retrieval agent writes its evidence first; the options are scored after that evidence as the
        memory (its whole output before any <final_answer>, counted, when it wrote no <information>).
        Without a retrieval agent they are scored after the memory view the answer step reads."""
        memory = self.current_memory()
        if not self.args.use_retrieval:
            built = [self.pipeline.prompt_for("answer", RetrievalState(memory, q)) for q in questions]
            return [Answer("", as_likelihood_chat(chat, q), {"agent": "answer", **info})
                    for (chat, info), q in zip(built, questions)]
        answers = []
        for r, q in zip(self.pipeline.respond(memory, questions), questions):
            evidence, untagged = r.next_state.likelihood_memory()
            if untagged:
                self.resources.count("comam_likelihood_untagged_evidence")
            answers.append(Answer(r.text, memory_likelihood_chat(evidence, q),
                                  {"agent": r.agent, "information": r.next_state.information,
                                   "problems": list(r.problems), **r.info}))
        return answers

    def memory_stats(self) -> dict[str, int]:
        count = self.pipeline.llms["retrieval"].count_tokens
        entries = sum(count(e.text) for e in self.memory.entries)
        profile = count(self.memory.profile) if self.memory.profile else 0
        return {"items": len(self.memory.entries) + int(bool(profile)), "tokens": entries + profile,
                "sessions": len(self.memory.entries), "profile_tokens": profile}

    def close(self) -> None:
        self.models.close()

    def config(self) -> dict[str, Any]:
        return {**self.args.as_dict(), "prompt_version": PROMPT_VERSION, "agents": list(self.pipeline.settings.agents),
                "long_history": LONG_HISTORY, "models": self.models.describe(),
                "checkpoint": str(self.checkpoint.path) if self.checkpoint else None,
                "checkpoint_prompt_version": self.checkpoint.prompt_version if self.checkpoint else None,
                # The trainer's notes (recipe, mode, global step): the leaderboard names the row by them.
                "checkpoint_info": dict(self.checkpoint.info) if self.checkpoint else None}

    # ------------------------------------------------------------------ construction
    def _close(self, finished: list[tuple[int, list[Message]]]) -> None:
        """Add finished sessions: extract the ones not built before in one call, then update the profile."""
        built = {s: self._built.get((s, len(msgs))) for s, msgs in finished}
        todo = [(s, render_session(msgs)) for s, msgs in finished if built[s] is None]
        fresh = dict(zip([s for s, _ in todo], self._entries(todo)))
        for s, _ in finished:
            cached = built[s]
            text = cached.entry if cached else fresh[s]
            profile = self.memory.profile
            if self.args.use_profile:
                reuse = cached is not None and cached.previous_profile == profile and self.args.profile_open_session
                profile = cached.profile if reuse else self.pipeline.update_profile(profile, text)
            self.memory = self.memory.with_entry(Entry(s, text)).with_profile(profile)
        self._built = {k: v for k, v in self._built.items() if k[0] >= self.session}

    def _entries(self, sessions: list[tuple[int, str]]) -> list[str]:
        """M_f entries: the agent's extractions, or the raw session text without extraction."""
        if not sessions:
            return []
        if not self.args.use_extraction:
            return [text for _, text in sessions]
        return self.pipeline.extract(sessions)

    def current_memory(self) -> Memory:
        """M for questions at the current position: finished sessions plus the open one (built once)."""
        if not self.open:
            return self.memory
        key = (self.session, len(self.open))
        if key not in self._built:
            entry = self._entries([(self.session, render_session(self.open))])[0]
            profile = self.memory.profile
            if self.args.use_profile and self.args.profile_open_session:
                profile = self.pipeline.update_profile(profile, entry)
            self._built[key] = _Built(entry, self.memory.profile, profile)
        built = self._built[key]
        return self.memory.with_entry(Entry(self.session, built.entry)).with_profile(built.profile)
