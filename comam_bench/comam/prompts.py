"""CoMAM's three agent prompts (paper, Appendix B.3, paraphrase-close), in one place.

Every text an agent sees is built here, so PROMPT_VERSION names it exactly; the version goes into the
system's config() and from there into the run record and into checkpoints a trainer writes. Change any
wording below and bump the version: a policy trained on one wording is evaluated on that wording.

Additions the paper leaves open, kept as small as possible:
- the profile prompt carries the previous profile, because the profile is updated session by session
  (a history is longer than the window; see comam.md "(open)");
- the memory texts name their sources, so the ablations (no extraction / no profile) do not tell the
  retrieval agent about a memory it was not given.
"""
from __future__ import annotations

from typing import Sequence

from comam_bench.api import Chat, Question

PROMPT_VERSION = "comam-b3-v1"

# Where a memory came from, as the agent prompts name it.
SOURCE_FINE = "fine-grained memory from the Memory Extractor"
SOURCE_RAW = "the raw conversation history"
SOURCE_COARSE = "coarse-grained memory from the Profile Abstractor"

# Section headers of the multi-grained memory the retrieval agent reads ({M_f}{M_c}, in that order).
FINE_HEADER = "Fine-grained memory:"
RAW_HEADER = "Conversation history:"
COARSE_HEADER = "Coarse-grained memory (user profile):"

EXTRACTION_TEMPLATE = (
    "You are the Memory Extractor. Analyze the upcoming Conversation History. Retain important "
    "conversations as much as possible in order to answer future questions about the conversation history, "
    "removing only the redundant text of each sentence.\n\n"
    "Conversation History:\n{history}\n\n"
    "Output only the retained conversations."
)

PROFILE_TEMPLATE = (
    "You are the Profile Abstractor. You receive {source}. Abstract it into higher-level knowledge for the "
    "user profile (such as scenarios, user behavior patterns, and preferences).\n\n"
    "{previous}"
    "{label}:\n{m_f}\n\n"
    "Output only the abstracted user profile."
)

# Only present from the second session on: the incremental update of an existing profile.
PREVIOUS_PROFILE_TEMPLATE = (
    "Current user profile (update it with the new memory below: keep what still holds, revise what "
    "changed):\n{profile}\n\n"
)

RETRIEVAL_TEMPLATE = (
    "You are the Retrieval agent. You have received {sources}. Retrieve relevant memory to answer the "
    "question accurately.\n\n"
    "Multi-grained Memory:\n{memory}\n\n"
    "Question: {question}\n\n"
    "Options: {options}\n\n"
    "Output the retrieved relevant information in <information></information> and choose the most "
    "appropriate option (a), (b), (c), or (d) in <final_answer></final_answer>."
)

# The same step for an open-ended question (LoCoMo): no options, a short free-text answer; the last
# sentence gives the phrase LoCoMo accepts when the memory does not hold the answer.
OPEN_RETRIEVAL_TEMPLATE = (
    "You are the Retrieval agent. You have received {sources}. Retrieve relevant memory to answer the "
    "question accurately.\n\n"
    "Multi-grained Memory:\n{memory}\n\n"
    "Question: {question}\n\n"
    "Output the retrieved relevant information in <information></information> and write a short answer (a "
    "few words: a name, a date, a number or a short phrase) in <final_answer></final_answer>. If the memory "
    "does not say, write <final_answer>Not mentioned in the conversation</final_answer>."
)

INFORMATION_TAG = "information"
FINAL_ANSWER_TAG = "final_answer"


def _user(text: str) -> Chat:
    """One user message: the paper gives each prompt as a single instruction with the data inline."""
    return [{"role": "user", "content": text}]


def extraction_prompt(history_text: str) -> Chat:
    """Step 0: the raw history (one session, or one piece of a long session) -> fine-grained memory M_f."""
    return _user(EXTRACTION_TEMPLATE.format(history=history_text.strip()))


def profile_prompt(m_f: str, previous_profile: str = "", raw: bool = False) -> Chat:
    """Step 1: M_f (or the raw history, without extraction) plus the profile so far -> user profile M_c."""
    previous = PREVIOUS_PROFILE_TEMPLATE.format(profile=previous_profile.strip()) if previous_profile.strip() else ""
    source, label = (SOURCE_RAW, "Conversation History") if raw else (SOURCE_FINE, "Fine-grained Memory")
    return _user(PROFILE_TEMPLATE.format(source=source, previous=previous, label=label, m_f=m_f.strip()))


def describe_sources(sources: Sequence[str]) -> str:
    """"a", "a and b": the sources named in the retrieval prompt's first sentence."""
    items = [s for s in sources if s]
    if not items:
        return "no memory"
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def retrieval_prompt(memory_text: str, question: Question,
                     sources: Sequence[str] = (SOURCE_FINE, SOURCE_COARSE)) -> Chat:
    """Step 2: the multi-grained memory M, the question and its four options (shown verbatim, as
    PersonaMem writes them, so the shared answer extraction applies) -> <information> and <final_answer>.
    An open-ended question (no options) asks for a short free-text answer in <final_answer> instead."""
    memory = memory_text.strip() or "(empty)"
    if not question.options:  # open-ended (LoCoMo): the answer is free text in <final_answer>
        return _user(OPEN_RETRIEVAL_TEMPLATE.format(sources=describe_sources(sources), memory=memory,
                                                    question=question.text))
    return _user(RETRIEVAL_TEMPLATE.format(sources=describe_sources(sources), memory=memory,
                                           question=question.text, options=question.options_raw))


def memory_sections(fine_lines: Sequence[str], profile: str, raw: bool = False) -> list[str]:
    """The blocks of a multi-grained memory text, M_f first then M_c (the paper's {M_f}{M_c}); empty
    sections are left out. Kept here because the headers are prompt text."""
    blocks = []
    if fine_lines:
        blocks.append((RAW_HEADER if raw else FINE_HEADER) + "\n" + "\n".join(fine_lines))
    if profile.strip():
        blocks.append(COARSE_HEADER + "\n" + profile.strip())
    return blocks
