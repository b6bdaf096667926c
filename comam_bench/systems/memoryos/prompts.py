"""MemoryOS's LLM steps: prompts (our wording of BAI-LAB/MemoryOS memoryos-pypi/prompts.py) and tolerant parsers.

Steps: multi-topic summary of evicted pages (JSON list of theme/keywords/content), dialogue-chain
continuity (true/false), chain overview ("meta info"), user profile rewrite, knowledge extraction
(user facts and assistant knowledge). Every parser returns None on unusable output so the caller can
count it and fall back.

Profile dimensions: the original lists ~90 preference dimensions (psychological model, AI-alignment
expectations, content-interest tags). We use a compact list of the same families, plus the two things
PersonaMem asks about most: the latest stance per activity and the reasons for changes.
"""
from __future__ import annotations

import re
from collections import Counter

from comam_bench.api import Chat
from comam_bench.systems.llm_json import as_str_list, parse_json

PROFILE_DIMENSIONS = (
    "Personality: extraversion, openness, agreeableness, conscientiousness, emotional stability",
    "Needs and values: security, belonging, recognition, autonomy, achievement, curiosity",
    "Interests: activities, hobbies and topics the user likes or dislikes, with the latest stance",
    "Changes: preferences that changed over time and the reasons the user gave",
    "Life context: family, work, health, money, places",
    "Communication: preferred detail, tone, humour, practical vs. theoretical advice",
    "Expectations of the assistant: helpfulness, honesty, conciseness",
)

_STOP = frozenset(
    "about after again also because been before being could does doing from have having here into just "
    "like more most much only other over really some such than that their them then there these they "
    "this those very what when where which while will with would your yours user assistant".split())
_WORD = re.compile(r"[a-z][a-z'-]{3,}")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s*")
_USER_HEAD = re.compile(r"user\s+(?:facts|private\s+data)\s*[:\u3011]?", re.I)
_ASSIST_HEAD = re.compile(r"assistant\s+knowledge\s*[:\u3011]?", re.I)


def _chat(system: str, body: str) -> Chat:
    return [{"role": "system", "content": system}, {"role": "user", "content": body}]


# --------------------------------------------------------------------------- topic summary
def multi_summary_chat(dialogue: str, max_themes: int = 2) -> Chat:
    return _chat(
        "You name the topics of a conversation. Be very brief.",
        f"Read the conversation below and give at most {max_themes} topics. For each topic write a short "
        "theme, a few keywords and a one-sentence summary. Answer with a JSON list only, like:\n"
        '[{"theme": "...", "keywords": ["...", "..."], "content": "..."}]\n\n'
        f"Conversation:\n{dialogue}")


def parse_themes(text: str, max_themes: int = 2) -> list[tuple[str, list[str]]] | None:
    """[(summary, keywords)] from the model's JSON, at most `max_themes`; None when nothing usable."""
    value = parse_json(text)
    if isinstance(value, dict):  # a single theme, or a wrapper object around the list
        inner = next((value[k] for k in ("summaries", "themes", "topics") if isinstance(value.get(k), list)), None)
        value = inner if inner is not None else [value]
    if not isinstance(value, list):
        return None
    themes = []
    for item in value:
        if not isinstance(item, dict):
            continue
        summary = next((str(item[k]).strip() for k in ("content", "summary", "theme")
                        if isinstance(item.get(k), str) and item[k].strip()), "")
        if summary:
            themes.append((summary, as_str_list(item.get("keywords")) or []))
    return themes[:max_themes] or None


def fallback_theme(dialogue: str, words: int = 60, n_keywords: int = 5) -> tuple[str, list[str]]:
    """When the summary is unusable: the dialogue's opening words and its most frequent content words.

    (The original falls back to one fixed generic summary, which merges every such batch into one segment.)
    """
    summary = " ".join(dialogue.split()[:words])
    counts = Counter(w for w in _WORD.findall(dialogue.lower()) if w not in _STOP)
    return summary, [w for w, _ in counts.most_common(n_keywords)]


# --------------------------------------------------------------------------- dialogue chains
def continuity_chat(previous: str, current: str) -> Chat:
    return _chat(
        "You decide whether a conversation continues on the same topic. Answer only true or false.",
        "Does the current exchange continue the previous one without a change of topic?\n\n"
        f"Previous exchange:\n{previous}\n\nCurrent exchange:\n{current}\n\nAnswer true or false:")


def parse_continuity(text: str) -> bool | None:
    """True/False from the answer's first true/false (or yes/no) word; None when there is none."""
    match = re.search(r"\b(true|false|yes|no)\b", text.lower())
    if match is None:
        return None
    return match.group(1) in ("true", "yes")


def meta_chat(previous_overview: str, dialogue: str) -> Chat:
    return _chat(
        "You keep a running overview of one conversation thread. Output only the overview.",
        f"Previous overview: {previous_overview or 'none'}\n\nNew exchanges:\n{dialogue}\n\n"
        "Write the updated overview in one or two sentences, keeping what still matters from the previous one:")


# --------------------------------------------------------------------------- long-term memory
def profile_chat(existing_profile: str, conversation: str) -> Chat:
    dims = "\n".join(f"- {d}" for d in PROFILE_DIMENSIONS)
    return _chat(
        "You maintain a profile of a user's personality and preferences from their conversations.",
        "Update the user profile with what the new conversation shows. Cover only the dimensions below "
        "for which there is evidence; for each give a level (high, medium or low) or the user's stance, "
        "with a brief reason and when it was shown. Keep earlier insights unless the conversation changes "
        f"them.\n\nDimensions:\n{dims}\n\nExisting profile:\n{existing_profile or 'No existing profile.'}\n\n"
        f"New conversation:\n{conversation}\n\nUpdated profile:")


def knowledge_chat(conversation: str) -> Chat:
    return _chat(
        "You extract short facts from a conversation. Use the fewest words possible.",
        f"Conversation:\n{conversation}\n\n"
        "Write exactly two sections.\nUSER FACTS:\n- <a fact about the user, with when it was said>\n"
        "(or - none)\nASSISTANT KNOWLEDGE:\n- <what the assistant provided or recommended, and when>\n(or - none)")


def _items(block: str) -> list[str]:
    out = []
    for line in block.splitlines():
        item = _BULLET.sub("", line).strip()
        if item and item.lower().strip(".") != "none" and not item.startswith("<"):
            out.append(item)
    return out


def parse_knowledge(text: str) -> tuple[list[str], list[str]] | None:
    """(user facts, assistant knowledge) from the two sections; None when neither header is present."""
    user = _USER_HEAD.search(text)
    assist = _ASSIST_HEAD.search(text)
    if user is None and assist is None:
        return None
    if user is not None and assist is not None and assist.start() > user.start():
        return _items(text[user.end():assist.start()]), _items(text[assist.end():])
    if user is not None and assist is not None:  # sections in the other order
        return _items(text[user.end():]), _items(text[assist.end():user.start()])
    if user is not None:
        return _items(text[user.end():]), []
    return [], _items(text[assist.end():])


def usable_profile(text: str) -> bool:
    return bool(text.strip()) and text.strip().lower().strip(".") != "none"
