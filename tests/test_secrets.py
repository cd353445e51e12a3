"""With DEBUG logging on, no AppSecret, code or token shows up anywhere."""

from __future__ import annotations

import logging

import pytest
from flask import Flask

from flask_wechat_web import wechat_authorized
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, callback_path, make_app, query_of, start_login


def test_flows_log_no_secret(fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    app, _ = make_app(fake_wechat)
    tokens: list[dict[str, str]] = []
    codes: list[str] = []
    pages: list[str] = []

    def remember(sender: Flask, token: dict[str, str], **kwargs: object) -> None:
        tokens.append(token)

    with wechat_authorized.connected_to(remember, app):
        for ua in ("Mozilla/5.0", MICROMESSENGER_UA):
            client = app.test_client()
            callback = callback_path(fake_wechat.approve(start_login(client, ua=ua)))
            codes.append(query_of(callback)["code"][0])
            for _ in range(2):  # the second is a replay
                response = client.get(callback)
                pages += [response.get_data(as_text=True), str(response.headers)]
            pages.append(client.get("/").get_data(as_text=True))
            pages.append(str(client.post("/wechat/logout").headers))
        fake_wechat.inject("userinfo", "http_500", times=1)
        client = app.test_client()
        response = client.get(callback_path(fake_wechat.approve(start_login(client))))
        pages.append(response.get_data(as_text=True))

    assert len(tokens) == 2
    forbidden = [app.config["WECHAT_WEB_SECRET"], app.config["WECHAT_WEB_MP_SECRET"], *codes]
    for token in tokens:
        forbidden += [token["access_token"], token["refresh_token"]]
    logged = [record.getMessage() for record in caplog.records]
    assert any("sns/oauth2/access_token" in line for line in logged)  # urllib3 did log
    for text in logged + pages:
        for secret in forbidden:
            assert secret not in text
