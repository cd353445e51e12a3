"""A follower's unionid from ``cgi-bin/user/info``, and the store's once-for-all ``add_once``.

The fake answers ``user/info`` as WeChat does since 2021-12-27: no profile,
the unionid only for a bound account and only while the person follows,
48001 for an account that is not verified.
"""

from __future__ import annotations

import threading
from pathlib import Path

from cachelib import FileSystemCache

from flask_wechat_web.followers import unionid_of
from flask_wechat_web.locks import add_once
from flask_wechat_web.state import get_state
from flask_wechat_web.testing import FakeWeChat

from .conftest import make_app


def _site(fake: FakeWeChat, tmp_path: Path):  # type: ignore[no-untyped-def]
    store = FileSystemCache(str(tmp_path / "store"), threshold=0)
    return make_app(fake, WECHAT_WEB_STORE=store)


def test_a_bound_follower_has_a_unionid_until_they_unfollow(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    app, _ = _site(fake_wechat, tmp_path)
    alice = fake_wechat.users[0]
    openid = fake_wechat.openid(alice, fake_wechat.mp_app.appid)
    fake_wechat.follow(alice)
    with app.app_context():
        assert unionid_of(get_state(), openid) == fake_wechat.unionid(alice)
        fake_wechat.unfollow(alice)
        assert unionid_of(get_state(), openid) is None
    assert fake_wechat.calls["stable_token"] == 1  # one token for both calls
    assert fake_wechat.calls["user_info"] == 2


def test_an_unbound_or_unverified_account_gives_no_unionid(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    app, _ = _site(fake_wechat, tmp_path)
    alice = fake_wechat.users[0]
    openid = fake_wechat.openid(alice, fake_wechat.mp_app.appid)
    fake_wechat.follow(alice)
    mp = fake_wechat.mp_app
    fake_wechat.add_app(mp.appid, mp.secret, kind="mp", domain=mp.domain, bound=False)
    with app.app_context():
        assert unionid_of(get_state(), openid) is None
        fake_wechat.add_app(mp.appid, mp.secret, kind="mp", domain=mp.domain, verified=False)
        assert unionid_of(get_state(), openid) is None  # 48001: logs in by openid


def test_a_replaced_server_token_is_refetched_once_for_user_info(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    app, _ = _site(fake_wechat, tmp_path)
    alice = fake_wechat.users[0]
    fake_wechat.follow(alice)
    openid = fake_wechat.openid(alice, fake_wechat.mp_app.appid)
    with app.app_context():
        assert unionid_of(get_state(), openid)
        fake_wechat.replace_server_token()  # another holder of the secret forced a new one
        assert unionid_of(get_state(), openid) == fake_wechat.unionid(alice)
    assert fake_wechat.calls["stable_token"] == 2
    assert fake_wechat.calls["user_info"] == 3


def test_add_once_on_a_file_store_has_one_winner(fake_wechat: FakeWeChat, tmp_path: Path) -> None:
    app, _ = _site(fake_wechat, tmp_path)
    wins: list[int] = []
    start = threading.Barrier(16)

    def claim(number: int) -> None:
        with app.app_context():
            start.wait()
            if add_once(get_state(), "wechat_web:test:claim", number, 60):
                wins.append(number)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(wins) == 1
    with app.app_context(), get_state().store_calls() as store:
        assert store.get("wechat_web:test:claim") == wins[0]
