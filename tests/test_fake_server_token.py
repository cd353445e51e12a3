"""The fake WeChat's ``cgi-bin/token`` and ``cgi-bin/stable_token`` keep WeChat's rules.

Over loopback HTTP, as a site or a peer library would call them (protocol §1, §11).
"""

from __future__ import annotations

import typing as t

import pytest
import requests

from flask_wechat_web.testing import FakeWeChat


def _base(fake: FakeWeChat) -> str:
    return fake.config()["WECHAT_WEB_API_BASE_URL"].rstrip("/")


def _stable(fake: FakeWeChat, **extra: t.Any) -> dict[str, t.Any]:
    app = fake.mp_app
    body = {"grant_type": "client_credential", "appid": app.appid, "secret": app.secret, **extra}
    answer = requests.post(f"{_base(fake)}/cgi-bin/stable_token", json=body, timeout=5)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "application/json; encoding=utf-8"
    return t.cast(dict[str, t.Any], answer.json())


def _plain(fake: FakeWeChat, **params: str) -> dict[str, t.Any]:
    app = fake.mp_app
    query = {"grant_type": "client_credential", "appid": app.appid, "secret": app.secret}
    answer = requests.get(f"{_base(fake)}/cgi-bin/token", params={**query, **params}, timeout=5)
    assert answer.status_code == 200
    return t.cast(dict[str, t.Any], answer.json())


def test_stable_token_is_the_same_until_five_minutes_before_expiry(
    fake_wechat: FakeWeChat,
) -> None:
    first = _stable(fake_wechat)
    assert first["expires_in"] == 7200 and len(first["access_token"]) >= 100
    fake_wechat.advance(6000)
    again = _stable(fake_wechat)
    assert again["access_token"] == first["access_token"]
    assert 1190 <= again["expires_in"] <= 1200  # what is left, not 7200
    fake_wechat.advance(1000)  # inside the last 300 s: a new token, the old one still works
    renewed = _stable(fake_wechat)
    assert renewed["access_token"] != first["access_token"]
    assert renewed["expires_in"] == 7200
    assert fake_wechat.server_token_valid(first["access_token"])
    fake_wechat.advance(200)
    assert fake_wechat.server_token_valid(first["access_token"]) is None
    assert fake_wechat.calls["stable_token"] == 3


def test_force_refresh_kills_the_old_token_at_most_every_30_s_and_20_a_day(
    fake_wechat: FakeWeChat,
) -> None:
    first = _stable(fake_wechat)["access_token"]
    forced = _stable(fake_wechat, force_refresh=True)["access_token"]
    assert forced != first and fake_wechat.server_token_valid(first) is None
    assert _stable(fake_wechat, force_refresh=True)["access_token"] == forced  # within 30 s
    for _ in range(19):
        fake_wechat.advance(31)
        assert _stable(fake_wechat, force_refresh=True)["access_token"]
    fake_wechat.advance(31)
    assert _stable(fake_wechat, force_refresh=True)["errcode"] == 45009  # the 21st
    assert _stable(fake_wechat)["access_token"]  # normal mode still answers


def test_cgi_bin_token_replaces_the_previous_one_300_s_later_and_not_the_stable_one(
    fake_wechat: FakeWeChat,
) -> None:
    stable = _stable(fake_wechat)["access_token"]
    first = _plain(fake_wechat)["access_token"]
    second = _plain(fake_wechat)["access_token"]
    assert first != second and fake_wechat.server_token_valid(first)
    fake_wechat.advance(301)
    assert fake_wechat.server_token_valid(first) is None
    assert fake_wechat.server_token_valid(second) and fake_wechat.server_token_valid(stable)
    fake_wechat.token_quota["token"] = 2
    assert _plain(fake_wechat)["errcode"] == 45009
    assert fake_wechat.calls["token"] == 3


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ("appid=x&secret=y&grant_type=client_credential", 41002),  # a form: JSON only
        ('{"grant_type": "client_credential", "secret": "s"}', 41002),
        ('{"grant_type": "client_credential", "appid": "wx0", "secret": "s"}', 40013),
        ('{"grant_type": "authorization_code", "appid": "MP", "secret": "SECRET"}', 40002),
        ('{"grant_type": "client_credential", "appid": "MP", "secret": "wrong"}', 40125),
    ],
)
def test_stable_token_refusals(fake_wechat: FakeWeChat, body: str, errcode: int) -> None:
    body = body.replace("MP", fake_wechat.mp_app.appid).replace("SECRET", fake_wechat.mp_app.secret)
    answer = requests.post(f"{_base(fake_wechat)}/cgi-bin/stable_token", data=body, timeout=5)
    assert answer.status_code == 200
    assert answer.json()["errcode"] == errcode
    assert ", rid: " in answer.json()["errmsg"]


def test_an_ip_outside_the_allow_list_is_40164_naming_it(fake_wechat: FakeWeChat) -> None:
    fake_wechat.allowed_ips = {"203.0.113.7"}
    for answer in (_stable(fake_wechat), _plain(fake_wechat)):
        assert answer["errcode"] == 40164
        assert "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist" in answer["errmsg"]
    fake_wechat.allowed_ips = {"127.0.0.1"}
    assert _stable(fake_wechat)["access_token"]
