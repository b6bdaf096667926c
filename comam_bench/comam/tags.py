"""Reading <tag>...</tag> blocks out of agent outputs, forgivingly.

Small models write tags in every way but the asked one: upper case, spaces inside the brackets, a block
that never closes (cut off by the token limit), the same tag twice, a tag nested in itself. The scanner
below pairs opening and closing tags by depth, so a nested block stays one (outermost) block, and it
reports what was wrong instead of raising: the caller counts the problem and uses the best content.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

MISSING = "missing"  # no opening tag at all
UNCLOSED = "unclosed"  # an opening tag never closed (the output ran out)
MULTIPLE = "multiple"  # more than one complete block


@dataclass(frozen=True)
class Tagged:
    """The outermost complete blocks of one tag, in order, and the text after an unclosed opening tag."""

    tag: str
    blocks: tuple[str, ...] = ()
    unclosed: str | None = None

    @property
    def found(self) -> bool:
        return bool(self.blocks) or self.unclosed is not None

    @property
    def problem(self) -> str | None:
        """The first thing wrong, for counting: missing, unclosed, multiple, or None."""
        if not self.found:
            return MISSING
        if self.unclosed is not None:
            return UNCLOSED
        return MULTIPLE if len(self.blocks) > 1 else None

    def last(self) -> str | None:
        """The block the output ended on (a cut-off final block counts): the protocol's reading for answers."""
        if self.unclosed is not None:
            return self.unclosed
        return self.blocks[-1] if self.blocks else None

    def joined(self, sep: str = "\n") -> str | None:
        """Every block, complete or cut off, joined: for evidence, where each block is a piece of it."""
        parts = list(self.blocks) + ([self.unclosed] if self.unclosed is not None else [])
        parts = [p for p in parts if p]
        return sep.join(parts) if self.found else None


def _tag_re(tag: str) -> re.Pattern:
    # "<information>", "< Information >", "</ INFORMATION>"; group 1 is the slash of a closing tag.
    return re.compile(rf"<\s*(/?)\s*{re.escape(tag)}\s*>", re.IGNORECASE)


def scan(text: str, tag: str) -> Tagged:
    """Pair the opening and closing `tag`s of `text` by depth; stray closing tags are ignored."""
    pattern = _tag_re(tag)
    blocks: list[str] = []
    depth, start = 0, 0
    for m in pattern.finditer(text):
        closing = bool(m.group(1))
        if not closing:
            if depth == 0:
                start = m.end()
            depth += 1
        elif depth > 0:
            depth -= 1
            if depth == 0:
                blocks.append(_clean(text[start:m.start()], pattern))
    unclosed = _clean(text[start:], pattern) if depth > 0 else None
    return Tagged(tag, tuple(blocks), unclosed)


def _clean(inner: str, pattern: re.Pattern) -> str:
    """A block's text with any inner markers of the same tag removed, whitespace stripped."""
    return pattern.sub("", inner).strip()


def strip_tags(text: str, *tags: str) -> str:
    """`text` with the markers (not the contents) of `tags` removed."""
    for tag in tags:
        text = _tag_re(tag).sub("", text)
    return text.strip()
