"""A fake WeChat for tests and the sandbox, and the ``fake_wechat`` pytest fixture."""

from __future__ import annotations

import typing as t

from .._lazy import lazy_exports

if t.TYPE_CHECKING:
    from .fake import FakeApp, FakeUser, FakeWeChat
    from .server import FakeWeChatServer

__all__ = ["FakeApp", "FakeUser", "FakeWeChat", "FakeWeChatServer"]

__getattr__ = lazy_exports(
    __name__,
    {"FakeApp": ".fake", "FakeUser": ".fake", "FakeWeChat": ".fake", "FakeWeChatServer": ".server"},
)
