"""Whatever arrives at the callback: a redirect home or a 4xx/502 page, never a 500."""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import start_login

NAMES = st.sampled_from(["state", "code", "next", "error", "error_description", "state[]", "x"])
VALUES = st.text(max_size=40) | st.sampled_from(
    ["", "abc", "A" * 5000, "%00", "\r\n", "//evil.com"]
)
QUERY = st.lists(st.tuples(NAMES, VALUES), max_size=6)
HEADERS = st.dictionaries(
    st.sampled_from(["User-Agent", "Host", "X-Forwarded-Host", "Cookie", "Referer"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=60),
    max_size=3,
)
SESSION = st.sampled_from(["none", "fresh", "pending", "garbage"])


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=QUERY, headers=HEADERS, session_kind=SESSION, keep_state=st.booleans())
def test_callback_never_fails_badly(
    app: Flask,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    session_kind: str,
    keep_state: bool,
) -> None:
    # ``app`` is built once for the test, not per example: the fake is not
    # reset between examples, and nothing here depends on its state.
    client = app.test_client()
    if session_kind == "garbage":
        client.set_cookie("session", "eyJfd2VjaGF0X3dlYl9sb2dpbnMiOnsicCI6WzFdfX0.junk.sig")
    elif session_kind != "none":
        client.get("/flash")
    if session_kind == "pending":
        authorize = start_login(client)
        state = urlsplit(authorize).query.split("state=")[1]
        if keep_state:
            query = [("state", state), *query]
    response = client.get(f"/wechat/authorized?{urlencode(query)}", headers=headers)
    assert response.status_code in (302, 400, 403, 405, 502), response.status_code
    body = response.get_data(as_text=True)
    secret = app.config["WECHAT_WEB_SECRET"]
    assert secret not in body and secret not in str(response.headers)
    assert "Traceback" not in body
    if response.status_code == 302:
        location = response.location
        assert location.startswith("/") and not location.startswith("//")
        assert "\\" not in location
