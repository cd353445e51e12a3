"""The fake's ``qrcode/create`` and ``showqrcode``, as WeChat answers them (protocol §2, §11)."""

from __future__ import annotations

import base64
import struct
import typing as t

import pytest
import requests

from flask_wechat_web.testing import FakeWeChat


def create(fake: FakeWeChat, body: t.Any, token: str | None = None) -> dict[str, t.Any]:
    assert fake.server is not None
    if token is None:
        token = requests.post(
            f"{fake.server.api_base_url}/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": fake.mp_app.appid,
                "secret": fake.mp_app.secret,
            },
            timeout=5,
        ).json()["access_token"]
    answer = requests.post(
        f"{fake.server.api_base_url}/cgi-bin/qrcode/create",
        params={"access_token": token},
        json=body,
        timeout=5,
    )
    assert answer.status_code == 200
    return t.cast(dict[str, t.Any], answer.json())


def temporary(scene: str, **extra: t.Any) -> dict[str, t.Any]:
    return {"action_name": "QR_STR_SCENE", "action_info": {"scene": {"scene_str": scene}}, **extra}


def test_ticket_decodes_to_url_time_and_life(fake_wechat: FakeWeChat) -> None:
    answer = create(fake_wechat, temporary("wwl_abc", expire_seconds=300))
    assert answer["expire_seconds"] == 300
    assert answer["url"].startswith("http://weixin.qq.com/q/") and len(answer["url"]) == 45
    raw = base64.b64decode(answer["ticket"])
    assert answer["url"].encode() in raw
    assert struct.unpack("<I", raw[-4:])[0] == 300
    assert fake_wechat.calls["qrcode_create"] == 1


def test_default_life_and_missing_wrapper(fake_wechat: FakeWeChat) -> None:
    assert create(fake_wechat, temporary("wwl_x"))["expire_seconds"] == 60
    body = {"action_name": "QR_STR_SCENE", "action_info": {"scene_str": "wwl_x"}}
    ticket = create(fake_wechat, body)["ticket"]
    assert fake_wechat.qrcode_of(ticket)[1].scene == "0"  # WeChat's silent failure


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        (
            {
                "action_name": "QR_LIMIT_STR_SCENE",
                "action_info": {"scene": {"scene_str": "s" * 65}},
            },
            40053,
        ),
        ({"action_name": "NOPE", "action_info": {"scene": {"scene_str": "s"}}}, 40052),
    ],
)
def test_refusals(fake_wechat: FakeWeChat, body: dict[str, t.Any], errcode: int) -> None:
    assert create(fake_wechat, body)["errcode"] == errcode


def test_token_and_account_checked(fake_wechat: FakeWeChat) -> None:
    assert create(fake_wechat, temporary("s"), token="forged")["errcode"] == 40001
    fake_wechat.add_app(
        fake_wechat.mp_app.appid, fake_wechat.mp_app.secret, kind="mp", verified=False
    )
    assert create(fake_wechat, temporary("s"))["errcode"] == 48001


def test_showqrcode_on_the_open_host(fake_wechat: FakeWeChat) -> None:
    assert fake_wechat.server is not None
    ticket = create(fake_wechat, temporary("s"))["ticket"]
    url = f"{fake_wechat.server.open_base_url}/cgi-bin/showqrcode"
    image = requests.get(url, params={"ticket": ticket}, timeout=5)
    assert image.status_code == 200 and image.content.startswith(b"\xff\xd8")
    assert requests.get(url, params={"ticket": "nope"}, timeout=5).status_code == 404
