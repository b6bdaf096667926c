"""Redaction of credentials typed into specs: URL userinfo (`//user:password@`) and key-like query parameters.

Applied to every spec before it is hashed, stored, printed or put into an error, so records can be shared
and the spec hash does not depend on the secret: the redacted form is the same whatever the secret was.

A backend also registers the credentials it sends (`add_secret`): an API key, a URL's password, the
`Basic` base64 form of user:password, a key-like query value. They are then masked by value wherever they
turn up (a server's error body that echoes a header, a traceback), whatever the encoding.
"""
from __future__ import annotations

import base64
import re
import threading
from typing import Any
from urllib.parse import unquote

MASK = "***"
# scheme://userinfo@ - userinfo stops at the first '/', whitespace or comma (spec values cannot hold commas)
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@,\s]+@")
# ?name=value or &name=value where the name looks like it names a credential
_KEY_PARAM = re.compile(
    r"(?P<head>[?&;](?:[\w.-]*[-_.])?(?:api[-_]?key|key|token|access[-_]?token|secret|password|passwd|pwd|"
    r"sig|signature|auth|credential|credentials|session)=)(?P<value>[^&;#,\s]*)",
    re.IGNORECASE,
)


MIN_SECRET = 4  # shorter values are not masked by value: they would blank ordinary words and numbers
_SECRETS: set[str] = set()
_SECRETS_LOCK = threading.Lock()


def add_secret(value: str | None) -> None:
    """Mask `value` (and its URL-decoded form) by value in everything `redact` sees from now on."""
    for form in {value or "", unquote(value or "")}:
        if len(form) >= MIN_SECRET:
            with _SECRETS_LOCK:
                _SECRETS.add(form)


def add_basic_credentials(user: str, password: str) -> None:
    """Register a user:password pair in every form it is sent in: the password, and `Basic` base64."""
    add_secret(password)
    pair = f"{unquote(user)}:{unquote(password)}"
    add_secret(pair)
    add_secret(base64.b64encode(pair.encode()).decode())


def add_query_secrets(query: str) -> None:
    """Register the values of a URL query's key-like parameters (`api_key=`, `token=`...)."""
    for m in _KEY_PARAM.finditer("?" + query):
        add_secret(m.group("value"))


def redact(text: str) -> str:
    """`text` with URL userinfo, key-like query values and registered secrets replaced by ***."""
    with _SECRETS_LOCK:
        secrets = sorted(_SECRETS, key=len, reverse=True)  # longest first: a pair before its password
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
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
