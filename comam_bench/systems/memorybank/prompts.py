"""MemoryBank's four summarisation prompts (our wording of the original's intent) and their inputs.

The original (zhongwanjun/MemoryBank-SiliconFriend, memory_bank/summarize_memory.py) asks, per day, for
a concise summary of the dialogue's themes and key events and for the user's personality traits, mood
and a response strategy; then, over all days, for one highly concise summary of the events and one
overall personality with the best response strategy.
"""
from __future__ import annotations

from comam_bench.api import Chat

SYSTEM = "You read conversations between a user and an AI assistant and write short, faithful notes."


def _chat(body: str) -> Chat:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": body}]


def day_summary_chat(dialogue: str) -> Chat:
    """Summary of one day's conversation: main topics and key events, one point per event."""
    return _chat(
        "Summarize the conversation below as briefly as possible. Give its main topics and the key "
        "facts, events and preferences the user mentioned; use a separate point for each event.\n\n"
        f"Conversation:\n{dialogue}\n\nSummary:")


def day_personality_chat(dialogue: str) -> Chat:
    """The user's personality traits and mood shown that day, and how the assistant should respond."""
    return _chat(
        "From the conversation below, describe the user's personality traits, mood and preferences, "
        "then say how the assistant should respond to this user.\n\n"
        f"Conversation:\n{dialogue}\n\nPersonality, mood and response strategy:")


def global_summary_chat(day_notes: str) -> Chat:
    """One concise summary over the per-day summaries."""
    return _chat(
        "Below are summaries of earlier conversations with the user, one per day. Condense them into one "
        "short summary that keeps the essential facts.\n\n"
        f"{day_notes}\n\nOverall summary:")


def global_personality_chat(day_notes: str) -> Chat:
    """One overall personality and response strategy over the per-day analyses."""
    return _chat(
        "Below are analyses of the user's personality and mood on different days, each with a response "
        "strategy. Give one short overall description of the user's personality and the best way for the "
        "assistant to respond.\n\n"
        f"{day_notes}\n\nOverall personality and response strategy:")


def dated_notes(notes: dict[int, str]) -> list[str]:
    """Per-day notes as lines "Day k: ...", in day order, empty notes left out."""
    return [f"Day {day}: {text}" for day, text in sorted(notes.items()) if text]
