"""A fake WeChat for tests and the sandbox, and the ``fake_wechat`` pytest fixture."""

from __future__ import annotations

from .fake import FakeApp, FakeUser, FakeWeChat
from .server import FakeWeChatServer

__all__ = ["FakeApp", "FakeUser", "FakeWeChat", "FakeWeChatServer"]
