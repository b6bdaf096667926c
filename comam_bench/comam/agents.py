"""The CoMAM pipeline as a step API: evaluation and training run the same code.

`Pipeline.run_steps(agent, states, n)` is the one place an agent is called: it builds each state's prompt,
samples `n` completions per state in a single batched generate call (tagged `agent=` for per-agent cost),
parses them, counts what had to be recovered, and returns the next states. On top of it:
- `extract` / `update_profile` / `respond`: what the memory system needs (long sessions split to fit);
- `step` / `sample` / `rollout`: what a trainer needs (a group of G trajectories for one (H, q), every
  step with its prompt and sampled text, so each agent's policy can be scored and updated).

Ablations change which agents run (comam.md Table 2): without extraction the raw session is M_f; without
a profile M_c stays empty; without retrieval the last step answers from memory with the harness's
standard prompt (protocol.memory_chat) and is tagged "answer".
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Iterator, Mapping, Sequence

from comam_bench.api import LETTERS, LLM, Chat, Generation, Question, Resources
from comam_bench.budget import head_within, pack
from comam_bench.comam import prompts
from comam_bench.comam.memory import Assembled, Entry, Memory, assemble, rank_entries
from comam_bench.comam.states import (AnswerState, ExtractionState, ProfileState, RetrievalState, State,
                                      StepResult, Trajectory)
from comam_bench.comam.tags import MISSING, MULTIPLE, scan
from comam_bench.protocol import choose, memory_chat
from comam_bench.retrieval import EmbeddingCache

AGENTS = ("extraction", "profile", "retrieval")  # the three policies, in pipeline order
RESERVE = 16  # tokens kept free in every prompt for template differences
RETRIEVAL_FORMATS = ("paper", "structured")


@dataclass
class Settings:
    """What shapes the pipeline's prompts and calls (all recorded in the system's config)."""

    use_extraction: bool = True
    use_profile: bool = True
    use_retrieval: bool = True
    ranking: str = "bm25"
    memory_tokens: int = 2048  # budget for M (profile + ranked M_f entries) in the retrieval prompt
    extraction_tokens: int = 256  # max new tokens per agent
    profile_tokens: int = 256  # also the profile's length limit (longer is truncated, counted)
    retrieval_tokens: int = 192
    answer_tokens: int = 64  # the answer step when use_retrieval is off
    temperature: float = 0.0
    # paper: the retrieval agent writes <information> and <final_answer> freely (Appendix B.3).
    # structured: <information> is written for it (the assistant turn starts with the tag), generation
    # stops at </information>, and the letter is the best of the four continuations after
    # "</information>\n<final_answer>(" under the agent's own policy: every reply has an answer in a-d.
    retrieval_format: str = "paper"

    @property
    def agents(self) -> tuple[str, ...]:
        """The steps one trajectory takes, in order."""
        first = ("extraction",) if self.use_extraction else ()
        middle = ("profile",) if self.use_profile else ()
        return first + middle + ("retrieval" if self.use_retrieval else "answer",)


class Pipeline:
    """The three agents over their models (`llms` maps extraction/profile/retrieval to an LLM)."""

    def __init__(self, llms: Mapping[str, LLM], resources: Resources, settings: Settings | None = None) -> None:
        missing = [a for a in AGENTS if a not in llms]
        if missing:
            raise ValueError(f"Pipeline needs an LLM for every agent; missing {missing}")
        self.llms = dict(llms)
        self.llms.setdefault("answer", self.llms["retrieval"])  # without retrieval, its model answers
        self.resources = resources
        self.settings = settings or Settings()
        self.embeddings = EmbeddingCache(lambda: self.resources.embedder)
        # Structured retrieval: choose the letter after the evidence (False: a training rollout whose rewards
        # never read it skips the four-way scoring, a full prompt pass per sample; train.skip_unread_letter).
        self.choose_letter = True

    @contextmanager
    def letters(self, on: bool) -> Iterator[None]:
        """choose_letter set to `on` inside the block, restored after it."""
        before, self.choose_letter = self.choose_letter, on
        try:
            yield
        finally:
            self.choose_letter = before

    # ------------------------------------------------------------------ states
    def first_state(self, history: str, question: Question | None = None, memory: Memory = Memory(),
                    session: int = 0) -> State:
        """s0 for the first active agent: the raw history, or (without extraction) the history as M_f."""
        if self.settings.use_extraction:
            return ExtractionState(history, memory, session, question)
        with_entry = memory.with_entry(Entry(session, history))
        if self.settings.use_profile:
            return ProfileState(history, with_entry, question)
        return RetrievalState(with_entry, question)

    def max_new_tokens(self, agent: str) -> int:
        s = self.settings
        return {"extraction": s.extraction_tokens, "profile": s.profile_tokens,
                "retrieval": s.retrieval_tokens, "answer": s.answer_tokens}[agent]

    # ------------------------------------------------------------------ prompts
    def prompt_for(self, agent: str, state: State) -> tuple[Chat, dict[str, Any]]:
        """The exact chat an agent sees in `state`, and facts about how it was built."""
        if agent == "extraction":
            return prompts.extraction_prompt(state.history), {}
        if agent == "profile":
            return prompts.profile_prompt(state.m_f, state.memory.profile, raw=not self.settings.use_extraction), {}
        if state.question is None:
            raise ValueError(f"the {agent} step needs a question in its state")
        view = self.memory_view(agent, state.memory, state.question)
        # 1-based session numbers, as the memory text labels them, in rank order
        info = {"sessions": [state.memory.entries[i].session + 1 for i in view.picked], "memory_tokens": view.tokens}
        if agent == "answer":
            return memory_chat(view.text, state.question), info
        return prompts.retrieval_prompt(view.text, state.question, self.sources()), info

    def sources(self) -> tuple[str, ...]:
        """The memories the retrieval agent is told it received."""
        s = self.settings
        return ((prompts.SOURCE_FINE if s.use_extraction else prompts.SOURCE_RAW),) + \
            ((prompts.SOURCE_COARSE,) if s.use_profile else ())

    def memory_view(self, agent: str, memory: Memory, question: Question) -> Assembled:
        """M as the retrieval (or answer) agent reads it: profile plus ranked entries within the budget,
        the budget capped so that the whole prompt and the answer fit the agent's window."""
        llm = self.llms[agent]
        empty = memory_chat("", question) if agent == "answer" else prompts.retrieval_prompt("", question)
        room = llm.context_window - llm.count_chat_tokens(empty) - self.max_new_tokens(agent) - RESERVE
        budget = self.settings.memory_tokens
        if room < budget:
            self.resources.count("comam_memory_budget_capped")
            budget = max(room, 0)
        embed = self.embeddings.vectors if self.settings.ranking == "dense" else None
        order = rank_entries(memory.entries, question.text, self.settings.ranking, embed)
        view = assemble(memory, order, budget, llm.count_tokens, raw=not self.settings.use_extraction)
        if view.profile_truncated:
            self.resources.count("comam_profile_cut_to_budget")
        if view.clipped:
            self.resources.count("comam_entry_clipped")
        return view

    # ------------------------------------------------------------------ the one calling path
    def run_steps(self, agent: str, states: Sequence[State], n: int = 1, temperature: float | None = None,
                  seed: int | None = None) -> list[list[StepResult]]:
        """Sample `n` completions for every state in one generate call; results[i] are state i's samples."""
        if not states:
            return []
        built = [self.prompt_for(agent, s) for s in states]
        chats = [chat for chat, _ in built for _ in range(n)]
        temperature = self.settings.temperature if temperature is None else float(temperature)
        # Greedy decoding gives equal chats equal replies: each distinct chat is generated once (the
        # questions of one session share its extraction and profile prompts).
        keys = [repr(c) for c in chats] if temperature <= 0 else list(range(len(chats)))
        distinct = dict(zip(keys, chats))
        replies = dict(zip(distinct, self._generate(agent, list(distinct.values()), temperature, seed)))
        gens = [replies[k] for k in keys]
        results: list[list[StepResult]] = []
        for i, (state, (chat, info)) in enumerate(zip(states, built)):
            results.append([self._result(agent, state, chat, info, g) for g in gens[i * n:(i + 1) * n]])
        return results

    def _generate(self, agent: str, chats: list[Chat], temperature: float, seed: int | None) -> list[Generation]:
        structured = agent == "retrieval" and self.settings.retrieval_format == "structured"
        extra = self._structured_kwargs() if structured else {}
        gens = self.llms[agent].generate(chats, max_new_tokens=self.max_new_tokens(agent), temperature=temperature,
                                         seed=self.resources.seed if seed is None else seed, agent=agent, **extra)
        if not structured:
            return gens
        if not self.choose_letter:
            return [replace(g, text=_evidence_text(g)) for g in gens]
        return [self._with_letter(chat, g) for chat, g in zip(chats, gens)]

    def _structured_kwargs(self) -> dict[str, Any]:
        llm = self.llms["retrieval"]
        if not getattr(llm, "supports_prefix", False):
            raise ValueError(f"retrieval_format=structured needs a model backend that can start the assistant turn "
                             f"(prefix=) and score continuations; {llm.spec or type(llm).__name__} cannot. Use "
                             "an hf: model, or retrieval_format=paper")
        return {"prefix": f"<{prompts.INFORMATION_TAG}>", "stop": (f"</{prompts.INFORMATION_TAG}>",)}

    def _with_letter(self, chat: Chat, gen: Generation) -> Generation:
        """The structured reply: the sampled evidence (its token ids untouched: they are what was sampled),
        closed, then the letter the retrieval policy scores best after "<final_answer>("."""
        written = f"{_evidence_text(gen)}\n<{prompts.FINAL_ANSWER_TAG}>("
        scores = self.llms["retrieval"].loglikelihood(chat, list(LETTERS), prefix=written, agent="retrieval")
        letter = choose(scores, "sum")  # the protocol's own pick (ties: the earlier letter)
        return replace(gen, text=f"{written}{letter})</{prompts.FINAL_ANSWER_TAG}>")

    def _result(self, agent: str, state: State, chat: Chat, info: dict, gen: Generation) -> StepResult:
        transition = {"extraction": self._after_extraction, "profile": self._after_profile,
                      "retrieval": self._after_retrieval, "answer": self._after_answer}[agent]
        output, next_state, problems = transition(state, gen)
        for problem in problems:
            self.resources.count(f"comam_{problem}")
        return StepResult(agent, state, chat, gen.text, output, next_state, gen.prompt_tokens,
                          gen.completion_tokens, tuple(problems), dict(info), gen.prompt_ids, gen.completion_ids,
                          gen.logprobs, gen.finish_reason)

    # ------------------------------------------------------------------ transitions (deterministic)
    def _after_extraction(self, state: ExtractionState, gen: Generation):
        problems = []
        m_f = _clean(gen.text)
        if gen.completion_tokens >= self.settings.extraction_tokens:
            problems.append("extraction_truncated")
        if not m_f:  # nothing retained stays nothing (counted): falling back to the raw session would let
            problems.append("empty_extraction")  # an agent that writes nothing earn the raw history's credit
        memory = state.memory.with_entry(Entry(state.session, m_f))
        nxt = ProfileState(m_f, memory, state.question) if self.settings.use_profile else \
            RetrievalState(memory, state.question)
        return m_f, nxt, problems

    def _after_profile(self, state: ProfileState, gen: Generation):
        profile, truncated = self.limit_profile(gen)
        if not profile:  # an empty update must not erase what earlier sessions built
            profile = state.memory.profile
            return profile, RetrievalState(state.memory.with_profile(profile), state.question), ["empty_profile"]
        problems = ["profile_truncated"] if truncated else []
        return profile, RetrievalState(state.memory.with_profile(profile), state.question), problems

    def limit_profile(self, gen: Generation) -> tuple[str, bool]:
        """The profile text within `profile_tokens`: cut at the last full sentence when generation ran
        out of tokens, cut by tokens when it is simply too long. Returns (text, truncated?)."""
        limit = self.settings.profile_tokens
        text = _clean(gen.text)
        count = self.llms["profile"].count_tokens
        ran_out = gen.completion_tokens >= limit
        if count(text) > limit:
            text = head_within(text, limit, count)
        if ran_out:
            end = max(text.rfind(c) for c in ".!?\n")
            if end >= len(text) // 2:  # keep the cut only if it loses little
                text = text[:end + 1].strip()
        return text, ran_out or text != _clean(gen.text)

    def _after_retrieval(self, state: RetrievalState, gen: Generation):
        info, answer = scan(gen.text, prompts.INFORMATION_TAG), scan(gen.text, prompts.FINAL_ANSWER_TAG)
        problems = [f"information_{info.problem}"] if info.problem else []
        # "<final_answer>(b)" without a closing tag is the protocol's own format: not a problem; nor is the
        # answer a structured reply was not asked for (choose_letter off).
        skipped = not self.choose_letter and self.settings.retrieval_format == "structured"
        problems += [f"final_answer_{answer.problem}"] if answer.problem in (MISSING, MULTIPLE) and not skipped \
            else []
        evidence = info.joined() or ""
        return evidence, AnswerState(gen.text, info.joined(), answer.last()), problems

    def _after_answer(self, state: RetrievalState, gen: Generation):
        answer = scan(gen.text, prompts.FINAL_ANSWER_TAG)
        return gen.text, AnswerState(gen.text, None, answer.last()), []

    # ------------------------------------------------------------------ memory construction (inference)
    def input_limit(self, agent: str, previous_profile: str = "") -> int:
        """Tokens of history (or M_f) that fit one extraction (or profile) prompt with its answer."""
        llm = self.llms[agent]
        empty = prompts.extraction_prompt("") if agent == "extraction" else \
            prompts.profile_prompt("", previous_profile, raw=not self.settings.use_extraction)
        return max(llm.context_window - llm.count_chat_tokens(empty) - self.max_new_tokens(agent) - RESERVE, 2)

    def split(self, agent: str, text: str, previous_profile: str = "") -> list[str]:
        """`text` in line-aligned pieces that each fit the agent's prompt (usually a single piece)."""
        limit = self.input_limit(agent, previous_profile)
        count = self.llms[agent].count_tokens
        if count(text) + 1 <= limit:
            return [text]
        self.resources.count(f"comam_{agent}_input_split")
        return pack(text.split("\n"), limit, count) or [text]

    def extract(self, sessions: Sequence[tuple[int, str]]) -> list[str]:
        """M_f entries for several sessions at once: every piece of every session in one generate call."""
        pieces = [(k, ExtractionState(p, session=s)) for k, (s, text) in enumerate(sessions)
                  for p in self.split("extraction", text)]
        results = self.run_steps("extraction", [state for _, state in pieces])
        parts: list[list[str]] = [[] for _ in sessions]
        for (k, _), samples in zip(pieces, results):
            parts[k].append(samples[0].output)
        return ["\n".join(p) for p in parts]

    def update_profile(self, profile: str, m_f: str) -> str:
        """profile_i = profile agent(profile_{i-1}, M_f entry i); a too long entry goes piece by piece."""
        for piece in self.split("profile", m_f, profile):
            profile = self.run_steps("profile", [ProfileState(piece, Memory(profile=profile))])[0][0].output
        return profile

    def respond(self, memory: Memory, questions: Sequence[Question]) -> list[StepResult]:
        """The last step for every question at one position, in one generate call."""
        agent = self.settings.agents[-1]
        return [r[0] for r in self.run_steps(agent, [RetrievalState(memory, q) for q in questions])]

    # ------------------------------------------------------------------ training
    def step(self, agent: str, state: State, temperature: float | None = None, seed: int | None = None) -> StepResult:
        """One sampled decision of `agent` in `state`."""
        return self.run_steps(agent, [state], 1, temperature, seed)[0][0]

    def sample(self, agent: str, state: State, n: int, temperature: float | None = None,
               seed: int | None = None) -> list[StepResult]:
        """A group of `n` decisions of `agent` in the same `state` (one batched call)."""
        return self.run_steps(agent, [state], n, temperature, seed)[0]

    def rollout(self, states: Sequence[State], group: int = 8, temperature: float = 1.0,
                seed: int | None = None) -> list[list[Trajectory]]:
        """G full trajectories from every first state (an (H, q)'s s0, from `first_state`): the first agent
        samples G times from each, every later agent once from each trajectory's own state; one batched
        call per agent for all of them. H is one session (the paper's training H) that fits the window."""
        agents = self.settings.agents
        groups = [[Trajectory([r]) for r in results]
                  for results in self.run_steps(agents[0], states, group, temperature, seed)]
        flat = [t for g in groups for t in g]
        for k, agent in enumerate(agents[1:], start=1):
            results = self.run_steps(agent, [t.steps[-1].next_state for t in flat], 1, temperature,
                                     None if seed is None else seed + k)
            for t, samples in zip(flat, results):
                t.steps.append(samples[0])
        return groups


def _evidence_text(gen: Generation) -> str:
    """A structured reply's evidence block, closed: the sampled text up to </information>, stripped."""
    info = gen.text.split(f"</{prompts.INFORMATION_TAG}>")[0].strip()
    return f"<{prompts.INFORMATION_TAG}>{info}</{prompts.INFORMATION_TAG}>"


def _clean(text: str) -> str:
    """An agent's free-text output as it enters memory (the backend already dropped special tokens)."""
    return text.strip()
