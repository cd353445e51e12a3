"""``next`` survives only as a path on this site."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st

from flask_wechat_web.pages import safe_next
from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in

MUST_REFUSE = [
    "//evil.com",
    "\\\\evil.com",
    "/\\evil.com",
    "/\\/evil.com",
    "\\/evil.com",
    "///evil.com",
    "////evil.com",
    "https://evil.com",
    "http:evil.com",
    "https:evil.com",
    "https:/evil.com",
    "https:\\\\evil.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "data:text/html,<script>alert(1)</script>",
    "%2F%2Fevil.com",
    "/%2F/evil.com",
    "/%09/evil.com",
    "/%5Cevil.com",
    "/\t/evil.com",
    "\t//evil.com",
    " //evil.com",
    "\x00//evil.com",
    "\x08//evil.com",
    "/\n/evil.com",
    "/\r\n/evil.com",
    "/ok\r\nSet-Cookie: a=b",
    "java\nscript:alert(1)",
    "//evil\u3002com",
    "\uff0f\uff0fevil.com",
    "/\u2028/evil.com",
    "https://www.example.com@evil.com",
    "/" + "a" * 1999,
    "",
]

MUST_KEEP = ["/", "/private", "/a/b?c=d&e=%2F#top", "/search?q=%E4%B8%AD%E6%96%87", "/~user/"]


@pytest.mark.parametrize("value", MUST_REFUSE)
def test_refused(value: str) -> None:
    assert safe_next(value) is None


@pytest.mark.parametrize("value", MUST_KEEP)
def test_kept(value: str) -> None:
    assert safe_next(value) == value


@pytest.mark.parametrize("value", MUST_REFUSE[:16] + ["/\t/evil.com", "/\r\n/evil.com"])
def test_refused_values_end_on_own_host_after_login(
    client: FlaskClient, fake_wechat: FakeWeChat, value: str
) -> None:
    response, _ = log_in(client, fake_wechat, next=value)
    assert response.status_code == 302
    assert response.location == "/"


@given(st.text(max_size=60))
def test_anything_kept_is_a_local_path(value: str) -> None:
    kept = safe_next(value)
    if kept is not None:
        assert kept.startswith("/") and not kept.startswith("//")
        assert "\\" not in kept and kept.isascii() and kept.isprintable() and " " not in kept
