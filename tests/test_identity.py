"""WeChatIdentity: an immutable record, every field of the spec, a lazy profile."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_wechat_web import WeChatIdentity, WeChatUser

USERINFO = {
    "openid": "o6_bmjrPTlm6_2sgVt7hMZOPfL2M",
    "nickname": "张三😀",
    "sex": 1,
    "province": "广东",
    "city": "深圳",
    "country": "中国",
    "headimgurl": "https://thirdwx.qlogo.cn/mmopen/vi_32/x/132",
    "privilege": ["chinaunicom"],
    "unionid": "o6_bmasdasdsad6_2sgVt7hMZOPfL",
}


def test_every_field_from_userinfo() -> None:
    identity = WeChatIdentity(
        "wx0123456789abcdef", USERINFO["openid"], USERINFO["unionid"], raw=USERINFO
    )
    assert (identity.nickname, identity.sex, identity.province) == ("张三😀", 1, "广东")
    assert (identity.city, identity.country) == ("深圳", "中国")
    assert identity.headimgurl == USERINFO["headimgurl"]
    assert identity.privilege == ("chinaunicom",)
    assert identity.is_snapshot_user is False and identity.scope == "snsapi_login"
    assert identity.raw == USERINFO
    assert json.loads(json.dumps(identity.raw)) == USERINFO  # plain data


def test_built_by_hand_with_keywords() -> None:
    identity = WeChatIdentity(
        appid="wx0123456789abcdef",
        openid="o1",
        unionid=None,
        scope="snsapi_userinfo",
        nickname="Li",
        headimgurl="",
        sex=0,
        province="",
        city="",
        country="",
        privilege=(),
        is_snapshot_user=True,
    )
    assert identity.nickname == "Li" and identity.privilege == () and identity.sex == 0
    assert identity.raw["nickname"] == "Li" and identity.is_snapshot_user is True


def test_immutable() -> None:
    identity = WeChatIdentity("wx0123456789abcdef", "o1", raw=USERINFO)
    with pytest.raises(dataclasses.FrozenInstanceError):
        identity.openid = "o2"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del identity.unionid
    identity.raw["nickname"] = "changed"
    assert identity.nickname == "张三😀"


def test_base_scope_has_no_profile_and_never_asks() -> None:
    asked: list[int] = []
    identity = WeChatIdentity(
        "wx0123456789abcdef", "o1", scope="snsapi_base", load_userinfo=lambda: asked.append(1) or {}
    )
    assert identity.nickname is None and identity.privilege is None and identity.raw == {}
    assert asked == []


@pytest.mark.parametrize(
    ("scope", "has_profile"),
    [
        ("snsapi_login", True),
        ("snsapi_userinfo", True),
        ("snsapi_base", False),
        # 6 of 7 refresh answers captured from WeChat carry this one.
        ("snsapi_base,snsapi_userinfo,", True),
        ("snsapi_base,snsapi_userinfo", True),
        (",snsapi_login,,", True),
        (" snsapi_userinfo ", True),
        ("snsapi_base,", False),
        ("", False),
        (",", False),
        ("SCOPE", False),  # the documentation's placeholder
    ],
)
def test_a_scope_is_a_comma_separated_set(scope: str, has_profile: bool) -> None:
    assert WeChatIdentity("wx0123456789abcdef", "o1", scope=scope).has_profile is has_profile


ITEMS = st.sampled_from(["snsapi_base", "snsapi_userinfo", "snsapi_login", "", " ", "x"])


@given(items=st.lists(ITEMS, max_size=6))
def test_any_scope_with_a_profile_scope_in_it_has_a_profile(items: list[str]) -> None:
    identity = WeChatIdentity("wx0123456789abcdef", "o1", scope=",".join(items))
    assert identity.has_profile is bool({"snsapi_userinfo", "snsapi_login"} & set(items))


def test_profile_loaded_once_on_first_read() -> None:
    asked: list[int] = []

    def load() -> dict[str, object]:
        asked.append(1)
        return USERINFO

    identity = WeChatIdentity("wx0123456789abcdef", "o1", load_userinfo=load)
    assert identity.unionid is None and identity.openid == "o1" and not identity.profile_loaded
    assert asked == []
    assert identity.nickname == "张三😀" and identity.city == "深圳"
    assert asked == [1] and identity.profile_loaded


def test_equality_and_round_trip() -> None:
    identity = WeChatIdentity("wx0123456789abcdef", "o1", "u1", raw=USERINFO)
    again = WeChatIdentity.from_dict(identity.to_dict())
    assert again == identity and hash(again) == hash(identity)
    assert again.nickname == identity.nickname


def test_builtin_user_id_prefers_unionid() -> None:
    assert WeChatUser(WeChatIdentity("wx0123456789abcdef", "o1", "u1")).get_id() == "u1"
    assert WeChatUser(WeChatIdentity("wx0123456789abcdef", "o1", raw={})).get_id() == "o1"
