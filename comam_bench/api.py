"""The few interfaces everything else implements, and the plain data types they exchange.

Kept free of heavy imports: `import comam_bench` must not pull in torch, vllm, ray or openrlhf.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

LETTERS = ("a", "b", "c", "d")

# The seven canonical PersonaMem query types, in the order of personamem.md.
QUESTION_TYPES = (
    "recall_user_shared_facts",
    "suggest_new_ideas",
    "acknowledge_latest_preferences",
    "track_full_preference_evolution",
    "revisit_reasons_behind_preference_updates",
    "provide_preference_aligned_recommendations",
    "generalize_to_new_scenarios",
)


# --------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Message:
    """One message of a shared context, as in the release JSONL."""

    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Question:
    """One multiple-choice question, asked after `context[:end_index]`."""

    id: str
    type: str  # canonical, one of QUESTION_TYPES
    raw_type: str  # the label as written in the file
    topic: str
    text: str  # user_question_or_message
    options: tuple[str, ...]  # four strings "(a) ..".."(d) .."
    options_raw: str  # the raw all_options cell: the protocol shows it verbatim
    gold: str  # "a".."d"
    context_id: str
    end_index: int
    distance_blocks: int | None = None
    distance_tokens: int | None = None
    evidence: tuple[int, ...] | None = None  # gold evidence message indices, where known
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class BadRow:
    """A row a run skips; `data validate` lists them."""

    file: str
    row: int  # 1-based data row number (header excluded); 0 for file-level problems
    id: str
    problem: str


@dataclass
class TaskData:
    """A loaded task: questions, their contexts, and what was wrong with the files."""

    name: str
    questions: list[Question]
    contexts: dict[str, list[Message]]
    bad_rows: list[BadRow] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- LLMs
@dataclass
class Generation:
    """One completion, with the token counts the backend measured. Backends that tokenize locally (hf, the
    OpenRLHF rollout engine) also give the token ids: the prompt as the model saw it and the completion up
    to and including its end token, which is what a trainer scores; None elsewhere. A sampling engine may
    add the sampled tokens' log-probabilities and why generation stopped ("stop" or "length")."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    prompt_ids: list[int] | None = None
    completion_ids: list[int] | None = None
    logprobs: list[float] | None = None  # one per completion id, under the policy that sampled them
    finish_reason: str | None = None
    # The server sent no text at all (`content: null`: a refusal, a tool call). Scored as an empty answer,
    # and counted (diagnostics `llm_null_replies`) so such replies are never silent.
    null_content: bool = False


Chat = list[dict]  # [{"role": ..., "content": ...}, ...]


@dataclass(frozen=True)
class OptionScore:
    """How likely one continuation is as the assistant's reply (the likelihood protocol's raw score)."""

    logprob: float  # sum of log-probabilities of the continuation's tokens given the chat
    tokens: int  # number of continuation tokens
    chars: int  # number of continuation characters
    greedy: bool  # True if every continuation token is the argmax given what precedes it

    def as_dict(self) -> dict[str, Any]:
        return {"logprob": self.logprob, "tokens": self.tokens, "chars": self.chars, "greedy": self.greedy}


class LLM(ABC):
    """Chat in, text out, batched. Implementations live in comam_bench.llm and are named by a model spec."""

    spec: str = ""
    context_window: int = 8192
    # True where generate() may be called from several threads at once (parallel runs share the model as it
    # is); otherwise they share it through comam_bench.llm.shared (a lock or a batching queue).
    thread_safe: bool = False
    # True where generate() and loglikelihood() take `prefix=` (text that starts the assistant turn) and
    # generate() takes `stop=` (strings that end a completion): what structured agent outputs need.
    supports_prefix: bool = False

    @abstractmethod
    def generate(
        self,
        chats: Sequence[Chat],
        *,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = None,
        **kwargs: Any,
    ) -> list[Generation]:
        """Complete every chat; one Generation per chat, in order."""

    @abstractmethod
    def count_tokens(self, text: str) -> int:
        """Tokens of a plain text under this model's tokenizer."""

    def count_chat_tokens(self, chat: Chat) -> int:
        """Tokens of a chat as the model will see it (template overhead approximated by 4 per message)."""
        return sum(self.count_tokens(m["content"]) + 4 for m in chat)

    def loglikelihood(self, chat: Chat, continuations: Sequence[str], **kwargs: Any) -> list[OptionScore]:
        """Score each continuation as the assistant's reply to `chat` (chat template applied, generation
        prompt added, continuation appended as the start of the assistant turn); one OptionScore each,
        in order. Backends that cannot score raise NotImplementedError naming themselves."""
        raise NotImplementedError(f"the model backend {type(self).__name__} ({self.spec or 'no spec'}) cannot "
                                  "score continuations, so it cannot run the likelihood protocol; use hf:, "
                                  "vllm: or openai: (a server returning prompt log-probabilities)")

    def identity(self) -> dict[str, Any]:
        """What a run record stores to say which model this was (never secrets)."""
        return {"spec": self.spec}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (servers, GPU memory)."""


class Embedder(ABC):
    """Texts in, L2-normalised vectors out."""

    spec: str = ""

    @abstractmethod
    def embed(self, texts: Sequence[str]):  # -> numpy.ndarray [n, d]
        """Embed texts; rows are unit-norm so a dot product is the cosine."""

    def identity(self) -> dict[str, Any]:
        return {"spec": self.spec}


# --------------------------------------------------------------------------- memory systems
@dataclass
class Answer:
    """A system's response to one question; the harness extracts the letter, never the system."""

    text: str
    prompt: Chat | None = None  # the exact chat sent, where there was one
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Resources:
    """What the harness hands a system: models, seed and a diagnostics counter."""

    llm: LLM | None
    embedder_factory: Any  # zero-arg callable returning an Embedder, built lazily
    seed: int = 0
    diagnostics: dict[str, int] = field(default_factory=dict)
    meter: Any = None  # the run's cost meter, injected by the runner: anything with wrap(llm) -> LLM

    def meter_llm(self, llm: "LLM") -> "LLM":
        """Wrap an LLM a system loads itself (e.g. one model per agent) so its cost lands in the run record."""
        return llm if self.meter is None else self.meter.wrap(llm)

    def count(self, key: str, n: int = 1) -> None:
        """Count a recovered problem (bad JSON, missing tag, truncation...) for the run record."""
        self.diagnostics[key] = self.diagnostics.get(key, 0) + n

    @property
    def embedder(self) -> Embedder:
        if not hasattr(self, "_embedder"):
            self._embedder = self.embedder_factory()
        return self._embedder


class MemorySystem(ABC):
    """Build memory incrementally from a context's messages; answer questions from it.

    The runner calls `reset` once per shared context, then alternates `ingest` (the messages
    between the previous and the next question position, each message exactly once) and `answer`
    (all questions asked at that position). Systems never see messages after a question's end index.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_llm: ClassVar[bool] = True
    needs_evidence: ClassVar[bool] = False  # oracle-style systems need gold evidence indices
    trainable: ClassVar[bool] = False  # a trainer may update its policies (a recipe's `system:` must be)
    policies: ClassVar[tuple[str, ...]] = ()  # the names of those policies, where trainable
    # True where answering changes memory (MemoryBank strengthens recalled memories): a resumed run then
    # replays the answers already recorded on an unfinished context, so its memory matches an unbroken run.
    answer_mutates_memory: ClassVar[bool] = False
    # Which questions the system answers (checked by comam_bench.protocols before a run starts): multiple
    # choice (PersonaMem) and/or open-ended free text (LoCoMo). Open-ended is opt-in, so a plugin written for
    # multiple choice gets a clear refusal on LoCoMo, not a silent zero.
    multiple_choice: ClassVar[bool] = True
    open_ended: ClassVar[bool] = False

    @classmethod
    def default_model(cls, args: dict[str, Any]) -> str | None:
        """The model spec these arguments stand for when the user names none (a checkpoint's base model),
        so the run's record and leaderboard group name the model that actually answers; None = the harness
        default."""
        return None

    def __init__(self, resources: Resources, **kwargs: Any) -> None:
        self.resources = resources
        if kwargs:
            raise TypeError(f"{type(self).__name__} got unknown arguments {sorted(kwargs)}")

    @property
    def llm(self) -> LLM:
        if self.resources.llm is None:
            raise RuntimeError(f"system {self.name!r} needs an LLM but none was given")
        return self.resources.llm

    @abstractmethod
    def reset(self, context_id: str) -> None:
        """Forget everything: a new shared context starts."""

    @abstractmethod
    def ingest(self, messages: Sequence[Message], start: int) -> None:
        """Add messages context[start:start+len(messages)] to memory."""

    @abstractmethod
    def answer(self, questions: Sequence[Question]) -> list[Answer]:
        """Answer questions asked at the current position (a batch: systems may batch LLM calls)."""

    def likelihood_answer(self, questions: Sequence[Question]) -> list[Answer]:
        """The likelihood protocol's hook, called instead of `answer`: the chat each question's options are
        scored after. The harness, never the system, scores the options.

        Return one Answer per question with `prompt` = that chat, built with protocol.memory_likelihood_chat
        or protocol.likelihood_chat (the question text alone as the last user message: no instructions, no
        option list), and `text` = whatever the system generated to get there ("" when nothing), e.g. a
        retrieval agent's evidence, which the chat then contains. AnswersFromMemory implements this for every
        system that answers from a memory text; other systems that use an LLM must implement it."""
        raise NotImplementedError(f"system {self.name or type(self).__name__!r} does not implement "
                                  "likelihood_answer(questions), so it cannot run under the likelihood protocol")

    def memory_stats(self) -> dict[str, int]:
        """Size of the current memory: {"items": n, "tokens": n} where meaningful."""
        return {}

    def config(self) -> dict[str, Any]:
        """Settings worth recording (budgets, ranking, prompt versions)."""
        return {}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the system loaded itself (models per agent); the runner calls it at the end."""
