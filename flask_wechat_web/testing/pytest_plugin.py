"""The pytest plugin: the ``fake_wechat`` fixture.

Registered through the ``pytest11`` entry point, so any project that installs
Flask-WeChat-Web can use it. The package is imported lazily, inside the
fixtures, so merely having the plugin costs a test run nothing.
"""

from __future__ import annotations

import typing as t

import pytest

if t.TYPE_CHECKING:
    from .fake import FakeWeChat
    from .server import FakeWeChatServer


@pytest.fixture(scope="session")
def fake_wechat_server() -> t.Iterator[FakeWeChatServer]:
    """One fake WeChat served over loopback for the whole test session."""
    from .fake import FakeWeChat

    server = FakeWeChat().serve()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake_wechat(fake_wechat_server: FakeWeChatServer) -> FakeWeChat:
    """A running fake WeChat, reset for this test.

    ``fake_wechat.configure(app)`` points an app at it; ``fake_wechat.config()``
    gives the settings to pass to an app factory.
    """
    fake_wechat_server.fake.reset()
    fake_wechat_server.reset_counters()
    return fake_wechat_server.fake
