"""The database going away during a callback: a clean 503, nothing half-written.

Against the example site (its user handler and SQLAlchemyStorage commit the
new user and the token row together) on SQLite, with the fake in-process.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import event, exc

from example import create_app
from example.models import User, WeChatAccount, db
from flask_wechat_web import StorageUnavailableError, WeChatError, wechat_login_failed
from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in


@pytest.fixture
def site(fake_wechat: FakeWeChat, tmp_path: Path) -> t.Iterator[Flask]:
    folder = tmp_path / "db"
    folder.mkdir()
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/x.db"})
    fake_wechat.configure(app)
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def failures(site: Flask) -> t.Iterator[list[WeChatError]]:
    seen: list[WeChatError] = []

    def record(sender: Flask, error: WeChatError) -> None:
        seen.append(error)

    wechat_login_failed.connect(record, site)
    yield seen
    wechat_login_failed.disconnect(record, site)


def counts(app: Flask) -> tuple[int, int]:
    with app.app_context():
        users = db.session.scalar(db.select(db.func.count()).select_from(User))
        accounts = db.session.scalar(db.select(db.func.count()).select_from(WeChatAccount))
        return t.cast(int, users), t.cast(int, accounts)


def test_a_failed_token_row_takes_the_new_user_with_it(
    site: Flask, fake_wechat: FakeWeChat, failures: list[WeChatError]
) -> None:
    def refuse(conn: t.Any, cursor: t.Any, statement: str, *args: t.Any) -> None:
        if statement.startswith("INSERT INTO we_chat_account"):
            raise exc.OperationalError(statement, {}, Exception("server closed the connection"))

    client = site.test_client()
    with site.app_context():
        event.listen(db.engine, "before_cursor_execute", refuse)
    response, _ = log_in(client, fake_wechat, next="/account")
    with site.app_context():
        event.remove(db.engine, "before_cursor_execute", refuse)

    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "请稍后再试" in page and "Traceback" not in page  # zh_CN, the default
    assert [type(error) for error in failures] == [StorageUnavailableError]
    assert counts(site) == (0, 0)  # the user flushed by the handler was rolled back too
    account = client.get("/account")  # and the session does not hold it either
    assert account.status_code == 302 and "/wechat/login" in account.location

    response, _ = log_in(client, fake_wechat, next="/account")
    assert response.location == "/account"
    assert counts(site) == (1, 1)


def test_callbacks_while_the_database_is_gone_answer_503_then_work_again(
    site: Flask, fake_wechat: FakeWeChat, failures: list[WeChatError], tmp_path: Path
) -> None:
    client = site.test_client()
    with site.app_context():
        db.engine.dispose()
    (tmp_path / "db").rename(tmp_path / "gone")  # SQLite: "unable to open database file"
    response, _ = log_in(client, fake_wechat, next="/account")
    assert response.status_code == 503
    assert "本网站暂时无法保存你的登录" in response.get_data(as_text=True)
    assert isinstance(failures[-1], StorageUnavailableError)
    assert client.get("/").status_code == 200  # a page that needs no database
    (tmp_path / "gone").rename(tmp_path / "db")

    response, _ = log_in(client, fake_wechat, next="/account")
    assert response.location == "/account"
    assert client.get("/account").status_code == 200
    assert counts(site) == (1, 1)


def test_a_connection_cut_after_the_response_is_made_is_not_a_500(
    site: Flask, fake_wechat: FakeWeChat
) -> None:
    client = site.test_client()
    log_in(client, fake_wechat, next="/account")

    def cut(conn: t.Any) -> None:  # the rollback at teardown meets a terminated connection
        raise exc.OperationalError("ROLLBACK", {}, Exception("terminating connection"))

    with site.app_context():
        event.listen(db.engine, "rollback", cut)
    try:
        assert client.get("/account").status_code == 200
    finally:
        with site.app_context():
            event.remove(db.engine, "rollback", cut)
    assert client.get("/account").status_code == 200
