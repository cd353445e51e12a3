"""One Authlib session per thread, reused: never shared, nothing left for the next user."""

from __future__ import annotations

import json
import sys
import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor

import requests
from flask import Flask

from flask_wechat_web import WeChatWeb
from flask_wechat_web.client import USERINFO_PATH, WeChatOAuth2Session, WeChatRemoteApp
from flask_wechat_web.testing import FakeUser, FakeWeChat

from .conftest import callback_path, log_in, start_login, stored_token


def _checkout(remote: WeChatRemoteApp) -> WeChatOAuth2Session:
    """A session the way Authlib's calls ask for one."""
    return remote._get_oauth_client(**remote.server_metadata)


def test_concurrent_logins_of_different_users_each_get_their_own(
    app: Flask, wechat: WeChatWeb, fake_wechat: FakeWeChat
) -> None:
    users, rounds = fake_wechat.users, 8
    threads = len(users)
    assert len({user.key for user in users}) == threads >= 3
    appid = app.config["WECHAT_WEB_APPID"]
    barrier = threading.Barrier(threads)
    log_in(app.test_client(), fake_wechat)  # warm up: each thread then reuses its session

    def log_in_as(user: FakeUser) -> tuple[str, dict[str, t.Any], str]:
        client = app.test_client()
        callback = callback_path(fake_wechat.approve(start_login(client), user))
        barrier.wait(30)  # every thread's callback at once
        assert client.get(callback).status_code == 302
        token = stored_token(client)
        barrier.wait(30)  # and every thread's call with its user's token
        with app.test_request_context():
            # WeChat itself says whose token the call carried.
            profile = json.loads(wechat.remote.get(USERINFO_PATH, token=token).content)
        return client.get("/private").get_data(as_text=True), token, profile["nickname"]

    def worker(first: int) -> list[tuple[FakeUser, str, dict[str, t.Any], str]]:
        # Each thread logs in another user on every round.
        return [
            (users[(first + n) % threads], *log_in_as(users[(first + n) % threads]))
            for n in range(rounds)
        ]

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often: races show
    try:
        with ThreadPoolExecutor(threads) as pool:
            results = [row for rows in pool.map(worker, range(threads)) for row in rows]
    finally:
        sys.setswitchinterval(interval)
    assert len(results) == threads * rounds
    for user, page, token, nickname in results:
        assert page == f"private for {fake_wechat.unionid(user)}"
        assert token["openid"] == fake_wechat.openid(user, appid)
        assert nickname == user.nickname
    assert len({token["access_token"] for _, _, token, _ in results}) == len(results)


def test_a_thread_reuses_its_session_reset(
    app: Flask, wechat: WeChatWeb, fake_wechat: FakeWeChat
) -> None:
    log_in(app.test_client(), fake_wechat)
    with app.app_context():
        remote = wechat.remote
        with _checkout(remote) as session:
            session.token = {"access_token": "someone's", "token_type": "bearer"}
            session.redirect_uri, session.state = "https://example.com/cb", "s"
            session.cookies.set("left", "over")
            session.metadata["grant_type"] = "password"
        with _checkout(remote) as again:
            assert again is session
            assert again.token is None
            assert (again.redirect_uri, again.state) == (None, None)
            assert not again.cookies
            assert "grant_type" not in again.metadata


def test_a_nested_call_and_another_thread_get_sessions_of_their_own(
    app: Flask, wechat: WeChatWeb, fake_wechat: FakeWeChat
) -> None:
    with app.app_context():
        remote = wechat.remote
        with _checkout(remote) as outer:
            with _checkout(remote) as inner:
                assert inner is not outer
            with ThreadPoolExecutor(1) as pool:
                other = pool.submit(_checkout, remote).result()
            assert other not in (outer, inner)
        # Two sessions were returned; the thread keeps one idle.
        assert _checkout(remote) in (outer, inner)


def test_a_session_from_before_a_fork_or_a_new_mount_is_dropped(
    app: Flask, wechat: WeChatWeb
) -> None:
    pool = app.extensions["wechat_web"].pool
    with app.app_context():
        remote = wechat.remote
        with _checkout(remote) as first:
            pass
        pool._pid = -1  # what a forked worker sees: another pid
        with _checkout(remote) as after_fork:
            assert after_fork is not first
            assert after_fork.get_adapter("https://api.weixin.qq.com/") is pool.adapter
        pool.mounts["https://mounted.example/"] = requests.adapters.HTTPAdapter()
        with _checkout(remote) as after_mount:
            assert after_mount is not after_fork
            assert (
                after_mount.get_adapter("https://mounted.example/x")
                is (pool.mounts["https://mounted.example/"])
            )


def test_a_call_with_other_metadata_gets_a_session_never_parked(
    app: Flask, wechat: WeChatWeb
) -> None:
    with app.app_context():
        remote = wechat.remote
        with remote._get_oauth_client() as bare:
            assert "refresh_token_url" not in bare.metadata
        with _checkout(remote) as session:
            assert session is not bare
            assert session.metadata["refresh_token_url"].endswith("sns/oauth2/refresh_token")
