"""The Official Account's server access token: one ``stable_token`` fetch per expiry for all.

Threads of one process, processes sharing one ``FileSystemCache`` folder,
and two "hosts" sharing a real Redis all end up with one fetch, counted by
the fake WeChat over loopback HTTP. A token replaced elsewhere (40001) is
refetched once; quota and IP allow-list refusals are configuration errors
naming the console setting; a store that is down is a clean error.
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading
import time
import typing as t
from pathlib import Path

import pytest
import redis
from cachelib import FileSystemCache, RedisCache
from flask import Flask

from flask_wechat_web import WeChatWeb
from flask_wechat_web.errors import (
    ConfigurationError,
    InvalidCredentialError,
    StorageUnavailableError,
    TokenExpiredError,
)
from flask_wechat_web.server_token import MARGIN, with_server_token
from flask_wechat_web.state import get_state
from flask_wechat_web.testing import FakeWeChat

from .conftest import make_app, redis_server

THREADS = 8


def _key(fake: FakeWeChat) -> str:
    return f"wechat_web:server_token:{fake.mp_app.appid}"


@pytest.fixture
def site(fake_wechat: FakeWeChat, tmp_path: Path) -> tuple[Flask, WeChatWeb]:
    """A site with a store of its own: nothing held from another test."""
    store = FileSystemCache(str(tmp_path / "store"), threshold=0)
    return make_app(fake_wechat, WECHAT_WEB_STORE=store)


def _tokens_from_threads(app: Flask, wechat: WeChatWeb, start_at: float) -> set[str]:
    """What ``THREADS`` threads of one process get, all asking at ``start_at``."""
    got: list[str] = []

    def ask() -> None:
        with app.app_context():
            time.sleep(max(0.0, start_at - time.time()))
            got.append(wechat.server_token())

    threads = [threading.Thread(target=ask) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(got) == THREADS
    return set(got)


def _host(config: dict[str, t.Any], store: str, start_at: float) -> set[str]:
    """A worker process (or a host) of the site: its threads' tokens. Runs spawned."""
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="a test secret key", **config)
    if store.startswith("redis://"):
        app.config["WECHAT_WEB_STORE"] = RedisCache(redis.Redis.from_url(store))
    else:
        app.config["WECHAT_WEB_STORE"] = FileSystemCache(store, threshold=0)
    return _tokens_from_threads(app, WeChatWeb(app), start_at)


def _run_hosts(fake: FakeWeChat, store: str, count: int) -> set[str]:
    spawn = multiprocessing.get_context("spawn")
    start_at = time.time() + 4  # after every process has started
    with concurrent.futures.ProcessPoolExecutor(count, mp_context=spawn) as pool:
        jobs = [pool.submit(_host, fake.config(), store, start_at) for _ in range(count)]
        return set().union(*(job.result(timeout=60) for job in jobs))


def test_threads_of_one_process_fetch_once(
    site: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = site
    tokens = _tokens_from_threads(app, wechat, time.time() + 0.2)
    assert len(tokens) == 1
    assert fake_wechat.calls["stable_token"] == 1
    assert fake_wechat.server_token_valid(tokens.pop()) == fake_wechat.mp_app.appid
    with app.app_context():
        wechat.server_token()  # held: no new fetch
    assert fake_wechat.calls["stable_token"] == 1


def test_processes_sharing_a_file_store_fetch_once(fake_wechat: FakeWeChat, tmp_path: Path) -> None:
    tokens = _run_hosts(fake_wechat, str(tmp_path / "store"), 4)
    assert len(tokens) == 1
    assert fake_wechat.calls["stable_token"] == 1
    assert fake_wechat.calls["token"] == 0  # never the call that replaces others' tokens


def test_hosts_sharing_redis_fetch_once(fake_wechat: FakeWeChat) -> None:
    with redis_server() as (url, _):
        tokens = _run_hosts(fake_wechat, url, 3)
    assert len(tokens) == 1
    assert fake_wechat.calls["stable_token"] == 1


def test_refreshed_a_little_before_expiry(
    site: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = site
    with app.app_context():
        first = wechat.server_token()
        store = get_state().store
        held = store.get(_key(fake_wechat))
        assert 7200 - 5 < held["expires_at"] - time.time() <= 7200
        # A minute and a second before it expires, as WeChat sees it too.
        store.set(_key(fake_wechat), {**held, "expires_at": time.time() + MARGIN - 1})
        fake_wechat.advance(7200 - MARGIN + 1)
        second = wechat.server_token()
        assert second != first
        assert wechat.server_token() == second
    assert fake_wechat.calls["stable_token"] == 2


def test_a_token_replaced_elsewhere_is_refetched_once(
    site: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = site
    attempts: list[str] = []

    def call(token: str) -> str:
        attempts.append(token)
        if fake_wechat.server_token_valid(token) is None:
            raise TokenExpiredError("replaced", errcode=40001)
        return "done"

    with app.app_context():
        first = wechat.server_token()
        fake_wechat.replace_server_token()  # another holder of the secret forced a refresh
        assert with_server_token(get_state(), call) == "done"
        assert attempts[0] == first and attempts[1] != first
        # Another worker that saw the same 40001 reads the new token, no fetch of its own.
        assert wechat.server_token(rejected=first) == attempts[1]
    assert fake_wechat.calls["stable_token"] == 2


def test_a_token_wechat_keeps_refusing_is_forced_once_then_the_error_stands(
    site: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = site
    attempts: list[str] = []

    def call(token: str) -> str:
        attempts.append(token)
        raise TokenExpiredError("refused", errcode=40001)

    with app.app_context(), pytest.raises(TokenExpiredError):
        with_server_token(get_state(), call)
    assert len(attempts) == 2 and attempts[0] != attempts[1]
    # The first fetch, the normal refetch that answered the same token, one force.
    assert fake_wechat.calls["stable_token"] == 3
    assert fake_wechat.server_token_valid(attempts[0]) is None


def test_the_daily_quota_is_a_configuration_error_naming_the_console(
    site: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = site
    fake_wechat.token_quota["stable_token"] = 0
    with app.app_context(), pytest.raises(ConfigurationError) as caught:
        wechat.server_token()
    assert caught.value.errcode == 45009
    assert "clear_quota" in str(caught.value) and "接口权限" in str(caught.value)
    assert fake_wechat.mp_app.secret not in str(caught.value)


def test_an_ip_not_allowed_is_a_configuration_error_naming_the_allow_list(
    site: tuple[Flask, WeChatWeb], fake_wechat: FakeWeChat
) -> None:
    app, wechat = site
    fake_wechat.allowed_ips = {"203.0.113.7"}
    with app.app_context(), pytest.raises(ConfigurationError) as caught:
        wechat.server_token()
    assert caught.value.errcode == 40164
    message = str(caught.value)
    assert "IP白名单" in message and "127.0.0.1" in message and "rid" not in message
    fake_wechat.allowed_ips = None
    with app.app_context():
        assert wechat.server_token()


def test_no_official_account_is_a_configuration_error(fake_wechat: FakeWeChat) -> None:
    app, wechat = make_app(fake_wechat, WECHAT_WEB_MP_APPID=None, WECHAT_WEB_MP_SECRET=None)
    with app.app_context(), pytest.raises(ConfigurationError, match="WECHAT_WEB_MP_APPID"):
        wechat.server_token()
    assert fake_wechat.calls["stable_token"] == 0


def test_the_store_down_is_a_clean_error(fake_wechat: FakeWeChat) -> None:
    with redis_server() as (url, process):
        client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
        app, wechat = make_app(fake_wechat, WECHAT_WEB_STORE=RedisCache(client))
        process.terminate()
        process.wait(10)
        with app.app_context(), pytest.raises(StorageUnavailableError) as caught:
            wechat.server_token()
    assert url not in str(caught.value) and "127.0.0.1" not in str(caught.value)
    assert fake_wechat.calls["stable_token"] == 0


def test_a_lock_left_by_a_crashed_process_is_broken(
    fake_wechat: FakeWeChat, tmp_path: Path
) -> None:
    folder = tmp_path / "store"
    store = FileSystemCache(str(folder), threshold=0)
    app, wechat = make_app(fake_wechat, WECHAT_WEB_STORE=store, WECHAT_WEB_TIMEOUT=0.5)
    lock = folder / f"wechat_web-lock-server_token-{fake_wechat.mp_app.appid}.__wz_cache"
    lock.touch()  # its holder died just now, mid-fetch
    started = time.monotonic()
    with app.app_context():
        assert wechat.server_token()
    # Waited as on a live holder (4 x WECHAT_WEB_TIMEOUT + 5 s), never fetched beside it.
    assert 7 <= time.monotonic() - started < 12
    assert fake_wechat.calls["stable_token"] == 1
    assert not lock.exists()  # released
    store.clear()
    lock.touch()
    os.utime(lock, (time.time() - 60, time.time() - 60))  # its holder died a minute ago
    started = time.monotonic()
    with app.app_context():
        assert wechat.server_token()
    assert time.monotonic() - started < 2
    assert fake_wechat.calls["stable_token"] == 2


def test_a_wrong_secret_is_a_credential_error(fake_wechat: FakeWeChat, tmp_path: Path) -> None:
    secret = "0" * 32
    app, wechat = make_app(
        fake_wechat,
        WECHAT_WEB_MP_SECRET=secret,
        WECHAT_WEB_STORE=FileSystemCache(str(tmp_path), threshold=0),
    )
    with app.app_context(), pytest.raises(InvalidCredentialError) as caught:
        wechat.server_token()
    assert caught.value.errcode == 40125
    assert secret not in str(caught.value) and "WECHAT_WEB_MP_" in str(caught.value)
