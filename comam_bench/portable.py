"""Portable paths in records: no record names the machine it ran on or reveals a home folder.

Every string of a record (run.json, spec.json, a benchmark's JSON, a training log) goes through `portable`:
a path under the project becomes relative to it (`results/training/x/checkpoint`), one under a Python
installation's site-packages becomes `<site-packages>/pkg`, one under the home folder becomes `~/...`.
Paths elsewhere are kept: they name nothing private. Applied before hashing too, so a spec hash does not
depend on where the project is checked out.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Iterable

SITE_PACKAGES = "<site-packages>"
# An absolute path's start: not inside a word, a relative path or a URL's path (`http://host/x`: after `host`).
_START = r"(?<![\w.~/-])"
_SITE = re.compile(_START + r"/[^\s\"',;:]*?/(?:site|dist)-packages(?=/|\b)")


def _rules(roots: Iterable[str | os.PathLike] | None = None) -> list[tuple[re.Pattern, str]]:
    """(pattern, what the prefix alone becomes), longest prefix first: a project root ".", home "~"."""
    from comam_bench.registry import project_root

    prefixes = {str(Path(r)).rstrip("/"): "." for r in (roots if roots is not None else [project_root()])}
    home = os.path.expanduser("~").rstrip("/")
    if home and home != "/":
        prefixes.setdefault(home, "~")
    out = []
    for prefix in sorted(prefixes, key=len, reverse=True):
        if prefix in ("", "/"):
            continue
        out.append((re.compile(_START + re.escape(prefix) + r"(?:/|(?=[\s\"',;]|$))"), prefixes[prefix]))
    return out


def portable(text: str, roots: Iterable[str | os.PathLike] | None = None) -> str:
    """`text` with every absolute path in it in its portable form (see the module docstring).
    `roots`: the project folders to make paths relative to (default: this project's root)."""
    if "/" not in text:
        return text
    text = _SITE.sub(SITE_PACKAGES, text)
    for pattern, replacement in _rules(roots):
        text = pattern.sub(lambda m, alone=replacement: _replace(m.group(0), alone), text)
    return text


def _replace(prefix: str, alone: str) -> str:
    """A matched prefix with its `/`: project root "" (the path becomes relative), home "~/"; alone, `alone`."""
    if not prefix.endswith("/"):
        return alone
    return "" if alone == "." else alone + "/"


def portable_obj(obj: Any, roots: Iterable[str | os.PathLike] | None = None) -> Any:
    """A copy of a JSON-like value with every string (keys too) made portable."""
    if isinstance(obj, str):
        return portable(obj, roots)
    if isinstance(obj, dict):
        return {portable(k, roots) if isinstance(k, str) else k: portable_obj(v, roots) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(portable_obj(v, roots) for v in obj)
    return obj
