"""Tolerant JSON-from-LLM parsing, shared by the memory systems that ask a model for JSON.

Small models wrap JSON in code fences or prose, write Python literals (`True`, single quotes), leave
trailing commas, stop mid-object when `max_new_tokens` runs out, or echo part of the prompt before
answering. For each candidate (the whole text, fenced blocks, then each bracketed value left to
right) the parser tries plain JSON, light repairs (trailing commas, Python literals, single quotes),
and for a value cut off at the end, the value closed after its last complete element.
`parse_json_object` returns the first object with the wanted key, skipping echoed values. Nothing
here raises; None means nothing usable was found, so a caller can count the failure and fall back.
"""
from __future__ import annotations

import ast
import json
import re
from itertools import groupby
from typing import Any

_FENCE = re.compile(r"```(?:json|JSON|python)?\s*(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PY_LITERALS = {"True": "true", "False": "false", "None": "null"}
_PY_WORD = re.compile(r"\b(True|False|None)\b")
_CLOSERS = {"{": "}", "[": "]"}
_ALNUM = re.compile(r"\w")


def parse_json(text: str | None) -> Any | None:
    """The first JSON object or array in `text` (repaired where that is cheap and safe), else None."""
    return next(iter_json_values(text, limit=1), None)


def iter_json_values(text: str | None, limit: int = 16):
    """Successive JSON objects/arrays found in `text`, left to right (at most `limit`).

    Small models often echo part of the prompt (a list, an example object) before their answer, so a
    caller looking for a particular shape can skip the values that do not have it.
    """
    if not text or not text.strip():
        return
    whole = _loads(text.strip())
    if whole is not None:
        yield whole
        return
    for block in _FENCE.findall(text):
        value = _loads(block.strip())
        if value is not None:
            yield value
            limit -= 1
            if limit <= 0:
                return
    pos, attempts = 0, 0
    while limit > 0 and attempts < 64:  # bounded: garbage full of brackets must stay cheap
        attempts += 1
        span = _first_value_span(text, pos)
        if span is None:
            return
        start, end, closed = span
        body = text[start:end]
        value = _loads(body) if closed else next(
            (v for v in map(_loads, _truncation_repairs(body)) if v is not None), None)
        if value is None:
            pos = start + 1  # not a value here: look for the next bracket (maybe nested inside)
            continue
        yield value
        limit -= 1
        pos = end


def parse_json_object(text: str | None, key: str | tuple[str, ...] | None = None,
                      bare_list: bool = False) -> dict | None:
    """The first JSON object in `text` holding `key` (any of them, for a tuple); any object without `key`.

    With `bare_list` and a single `key`, a list found where no such object is accepted as
    `{key: list}`, since models often drop the wrapper (`["fact a"]` for `{"facts": ["fact a"]}`).
    """
    keys = (key,) if isinstance(key, str) else tuple(key or ())
    first_list = None
    for value in iter_json_values(text):
        if isinstance(value, dict) and (not keys or any(k in value for k in keys)):
            return value
        if isinstance(value, list) and first_list is None:
            first_list = value
    if bare_list and len(keys) == 1 and first_list is not None:
        return {keys[0]: first_list}
    return None


def as_str_list(value: Any) -> list[str] | None:
    """Coerce a model's list field to a list of non-empty strings; None when it is not list-like.

    Accepts a list (numbers are stringified, nested lists flattened one level) or a comma-separated
    string. Items without a letter or digit (empty strings, a copied "..." placeholder) are dropped.
    """
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = []
        for item in value:
            if isinstance(item, (list, tuple)):
                items.extend(item)
            elif isinstance(item, dict):
                # {"text": ...} or {"fact": ...}: keep the first string value
                items.append(next((v for v in item.values() if isinstance(v, str)), ""))
            else:
                items.append(item)
    else:
        return None
    out = [str(x).strip() for x in items if isinstance(x, (str, int, float)) and not isinstance(x, bool)]
    return [x for x in out if _ALNUM.search(x)]


def as_bool(value: Any) -> bool:
    """A model's boolean field: true/false, "yes"/"no", 1/0; anything else is False."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value != 0
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "y", "1")
    return False


# --------------------------------------------------------------------------- internals
def _loads(candidate: str) -> Any | None:
    """json.loads, then with trailing commas and Python literals fixed, then ast.literal_eval."""
    if not candidate or candidate[0] not in "{[":
        return None
    attempts = (candidate, _repair(candidate))
    for attempt in attempts:
        try:
            value = json.loads(attempt)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, (dict, list)):
            return value
    try:  # single-quoted Python dicts/lists, as models that mimic Python often write
        value = ast.literal_eval(candidate)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        return None
    return value if isinstance(value, (dict, list)) else None


def _repair(candidate: str) -> str:
    """Cheap, safe fixes: trailing commas and unquoted Python literals outside strings."""
    pieces = _split_strings(candidate)
    fixed = []
    for is_string, piece in pieces:
        if not is_string:
            piece = _PY_WORD.sub(lambda m: _PY_LITERALS[m.group(1)], piece)
        fixed.append(piece)
    return _TRAILING_COMMA.sub(r"\1", "".join(fixed))


def _split_strings(text: str) -> list[tuple[bool, str]]:
    """Split text into (inside a double-quoted string?, piece) runs."""
    mask, _ = _string_mask(text)
    return [(quoted, "".join(ch for ch, _ in run)) for quoted, run in groupby(zip(text, mask), key=lambda t: t[1])]


def _string_mask(text: str) -> tuple[list[bool], bool]:
    """Whether each character belongs to a double-quoted JSON string (its quotes included), and whether
    the text ends inside an unterminated string. The one scanner the bracket and comma searches share."""
    mask: list[bool] = []
    in_str = escaped = False
    for ch in text:
        if in_str:
            mask.append(True)
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        else:
            in_str = ch == '"'
            mask.append(in_str)
    return mask, in_str


def _first_value_span(text: str, pos: int = 0) -> tuple[int, int, bool] | None:
    """(start, end, closed?) of the first bracketed value at or after `pos`; an unclosed one runs to the end."""
    start = next((i for i in range(pos, len(text)) if text[i] in "{["), None)
    if start is None:
        return None
    body = text[start:]
    mask, _ = _string_mask(body)
    stack: list[str] = []
    for i, (ch, quoted) in enumerate(zip(body, mask)):
        if quoted:
            continue
        if ch in _CLOSERS:
            stack.append(_CLOSERS[ch])
        elif ch in "}]":
            if stack and ch == stack[-1]:
                stack.pop()
            if not stack:
                return start, start + i + 1, True
    return start, len(text), False


def _truncation_repairs(body: str, max_cuts: int = 4):
    """Close a value cut off mid-way: first as is, then cut back to earlier commas, then close."""
    current = body
    for _ in range(max_cuts + 1):
        closed = _close(current)
        # "{" alone closes to "{}": an empty value recovered from a cut-off text is no evidence of
        # "nothing to report", so it does not count as a parse
        if len(closed.replace(" ", "")) > 2:
            yield closed
        cut = _last_comma_outside_strings(current)
        if cut is None:
            return
        current = current[:cut]


def _close(body: str) -> str:
    """Terminate an open string, drop a dangling comma/colon, and append the missing closers."""
    mask, open_string = _string_mask(body)
    stack: list[str] = []
    for ch, quoted in zip(body, mask):
        if quoted:
            continue
        if ch in _CLOSERS:
            stack.append(_CLOSERS[ch])
        elif ch in "}]" and stack and ch == stack[-1]:
            stack.pop()
    out = body + ('"' if open_string else "")
    out = out.rstrip().rstrip(",:").rstrip()
    return out + "".join(reversed(stack))


def _last_comma_outside_strings(text: str) -> int | None:
    mask, _ = _string_mask(text)
    return max((i for i, (ch, quoted) in enumerate(zip(text, mask)) if ch == "," and not quoted), default=None)
