"""WeChat's scope strings, read one way wherever a scope is read.

A scope is a comma-separated set. WeChat's refresh answers have been seen
to carry ``"snsapi_base,snsapi_userinfo,"``: items are trimmed, and empty
and repeated ones dropped.
"""

from __future__ import annotations

#: The scopes under which ``sns/userinfo`` answers a profile.
PROFILE_SCOPES = frozenset({"snsapi_userinfo", "snsapi_login"})


def parse(scope: str | None) -> tuple[str, ...]:
    """The scopes in ``scope``, in their order, without empty or repeated ones."""
    items = (item.strip() for item in (scope or "").split(","))
    return tuple(dict.fromkeys(item for item in items if item))


def normalised(scope: str | None) -> str:
    """``scope`` written plainly (``"a,b,"`` is ``"a,b"``); ``""`` when it holds none."""
    return ",".join(parse(scope))


def gives_profile(scope: str | None) -> bool:
    """Whether ``scope`` holds one that gives a profile (``snsapi_userinfo``, ``snsapi_login``)."""
    return not PROFILE_SCOPES.isdisjoint(parse(scope))
