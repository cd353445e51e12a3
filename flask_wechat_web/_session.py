"""Our values in the Flask session, each stored as one compact JSON string.

Flask's session serializer tags every nested value on every request that
saves the session; a string is one leaf. It also keeps our keys opaque.
"""

from __future__ import annotations

import json
import typing as t

from flask import session


def load(key: str) -> t.Any:
    """The value stored under ``key``, or ``None`` if absent or unreadable."""
    raw = session.get(key)
    if not isinstance(raw, str):
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def save(key: str, value: t.Any) -> None:
    session[key] = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
