"""Redaction of credentials typed into specs: URL userinfo (`//user:password@`) and key-like query parameters.

Applied to every spec before it is hashed, stored, printed or put into an error, so records can be shared
and the spec hash does not depend on the secret: the redacted form is the same whatever the secret was.
"""
from __future__ import annotations

import re
from typing import Any

MASK = "***"
# scheme://userinfo@ - userinfo stops at the first '/', whitespace or comma (spec values cannot hold commas)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@,\s]+@")
# ?name=value or &name=value where the name looks like it names a credential
_KEY_PARAM = re.compile(
    r"(?P<head>[?&;](?:[\w.-]*[-_.])?(?:api[-_]?key|key|token|access[-_]?token|secret|password|passwd|pwd|"
    r"sig|signature|auth|credential|credentials|session)=)(?P<value>[^&;#,\s]*)",
    re.IGNORECASE,
)


def redact(text: str) -> str:
    """`text` with URL userinfo and key-like query values replaced by ***; everything else unchanged."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)
    return _KEY_PARAM.sub(lambda m: m.group("head") + (MASK if m.group("value") else ""), text)


def redact_obj(obj: Any) -> Any:
    """A copy of a JSON-like value (dicts, lists, strings) with every string redacted."""
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {redact(k) if isinstance(k, str) else k: redact_obj(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj
