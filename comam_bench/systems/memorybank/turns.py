"""Turns and session days from PersonaMem messages; shared by the MemoryBank and MemoryOS baselines.

Both originals store (user query, assistant response) pairs with a timestamp. PersonaMem has no
timestamps, so time is session order: a session starts at each "Current user persona" system message,
and session k is day k (the first session is day 0). Messages before the first persona message belong
to day 0 as well.

Pairing rule (each message is used exactly once, in order):
- a user message opens a turn; the next assistant message completes it;
- a user message that meets an open turn closes that turn without a response;
- an assistant message with no open turn becomes a turn without a query;
- a system message (the persona, or any other) closes the open turn and becomes a turn of kind
  "system", so the persona text is remembered like everything else.
A turn still open when a question is asked is available from `open_turn()`.

Also here: the token budgets both systems use to fit LLM inputs into the window.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from comam_bench.api import Message

PERSONA_PREFIX = "current user persona"
_SPEAKER = re.compile(r"^\s*(user|assistant)\s*:\s*", re.I)


@dataclass
class Turn:
    """A query/response pair (either side may be empty), or a system note in `query`."""

    query: str
    response: str
    day: int
    index: int  # context index of the turn's first message
    kind: str = "dialogue"  # "dialogue" | "system"

    def render(self, sep: str = "\n") -> str:
        """The turn as text: "User: ...<sep>Assistant: ...", or "System note: ..." for a system turn."""
        if self.kind == "system":
            return f"System note: {self.query}"
        parts = []
        if self.query:
            parts.append(f"User: {self.query}")
        if self.response:
            parts.append(f"Assistant: {self.response}")
        return sep.join(parts)


@dataclass(frozen=True)
class SessionStart:
    """A new session (day) begins at context index `index`."""

    day: int
    index: int


def strip_speaker(text: str) -> str:
    """Drop a leading "User:" / "Assistant:" label (PersonaMem keeps them in the content)."""
    return _SPEAKER.sub("", text, count=1).strip()


def is_persona(message: Message) -> bool:
    return message.role == "system" and message.content.strip().lower().startswith(PERSONA_PREFIX)


class TurnPairer:
    """Turns messages into SessionStart and Turn events, in context order."""

    def __init__(self) -> None:
        self.sessions = 0  # persona messages seen
        self._open: Turn | None = None

    @property
    def day(self) -> int:
        return max(self.sessions - 1, 0)

    def open_turn(self) -> Turn | None:
        """The user message still waiting for its response, if any."""
        return self._open

    def push(self, message: Message, index: int) -> list[Turn | SessionStart]:
        """Events produced by one message (closed turns first, then a session start, then new turns)."""
        events: list[Turn | SessionStart] = []
        role = message.role
        if role == "assistant" and self._open is not None:
            self._open.response = strip_speaker(message.content)
            events.append(self._open)
            self._open = None
            return events
        if self._open is not None:  # any other message closes the open turn unanswered
            events.append(self._open)
            self._open = None
        if role == "system":
            if is_persona(message):
                self.sessions += 1
                events.append(SessionStart(self.day, index))
            events.append(Turn(message.content.strip(), "", self.day, index, kind="system"))
        elif role == "user":
            self._open = Turn(strip_speaker(message.content), "", self.day, index)
        else:  # an assistant message with no query (or an unknown role): keep its text
            events.append(Turn("", strip_speaker(message.content), self.day, index))
        return events

    def push_all(self, messages: Sequence[Message], start: int) -> list[Turn | SessionStart]:
        events: list[Turn | SessionStart] = []
        for i, message in enumerate(messages):
            events.extend(self.push(message, start + i))
        return events


