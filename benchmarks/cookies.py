"""The session cookie a login leaves behind, which every later request carries.

``python -m benchmarks.cookies`` (and ``make bench``, after the login table)
logs one browser in five times on each of three sites, against the fake
WeChat served over loopback: the extension with the built-in user and
``SessionStorage`` (the token in the cookie), the extension with
``SQLAlchemyStorage`` and a user handler (the token in a database), and the
plain-Authlib baseline of ``benchmarks/sites.py``. It reports the session
cookie's value in bytes after the first login and the largest after any
(the used states' memory fills up over the later ones).
"""

from __future__ import annotations

import tempfile
import typing as t
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask
from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from flask_wechat_web import SQLAlchemyStorage, WeChatIdentity, WeChatWeb
from flask_wechat_web.sqla import WeChatAccountMixin
from flask_wechat_web.testing import FakeWeChat

from . import sites

LOGINS = 5
db = SQLAlchemy()


class User(UserMixin, db.Model):  # type: ignore[misc, name-defined]
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class WeChatAccount(WeChatAccountMixin, db.Model):  # type: ignore[misc, name-defined]
    user_id: Mapped[int] = mapped_column(ForeignKey(User.id))
    user: Mapped[User] = relationship()


def _with_database(settings: dict[str, t.Any], database: Path) -> Flask:
    """The extension with its tokens in a database, as docs/storage.rst shows."""
    app = sites._app({**settings, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}"})
    db.init_app(app)
    storage = SQLAlchemyStorage(db, WeChatAccount)
    wechat = WeChatWeb(app, storage=storage)

    @app.login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id))

    @wechat.user_handler
    def user_for(identity: WeChatIdentity) -> User:
        user = storage.find_user(identity)
        if user is None:
            user = User(name=identity.nickname or "WeChat user")
            db.session.add(user)
        return t.cast(User, user)

    with app.app_context():
        db.create_all()
    return app


def _cookie_sizes(app: Flask, fake: FakeWeChat, login_path: str) -> tuple[int, int]:
    """The session cookie's size after the first login, and the largest after any."""
    client = app.test_client()
    sizes = []
    for _ in range(LOGINS):
        start = client.get(login_path)
        callback = urlsplit(fake.approve(start.location))
        done = client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 302, done.status_code
        cookie = client.get_cookie("session")
        assert cookie is not None
        sizes.append(len(cookie.value))
    return sizes[0], max(sizes)


def measure() -> dict[str, dict[str, int]]:
    """Cookie bytes after one login and at most over five, for each site."""
    server = FakeWeChat().serve()
    fake = server.fake
    try:
        settings = fake.config()
        with tempfile.TemporaryDirectory() as tmp:
            apps = {
                "ours, SessionStorage": (sites.ours(settings), "/wechat/login"),
                "ours, SQLAlchemyStorage": (
                    _with_database(settings, Path(tmp) / "bench.db"),
                    "/wechat/login",
                ),
                "baseline": (sites.baseline(settings), "/login"),
            }
            results = {}
            for name, (app, login_path) in apps.items():
                first, largest = _cookie_sizes(app, fake, login_path)
                results[name] = {"after_first_login": first, "largest": largest}
            with apps["ours, SQLAlchemyStorage"][0].app_context():
                db.engine.dispose()
    finally:
        server.stop()
    return results


def report(results: dict[str, dict[str, int]]) -> str:
    lines = [f"Session cookie after a login, bytes (first login; largest over {LOGINS}):"]
    for name, sizes in results.items():
        lines.append(f"  {name:24} {sizes['after_first_login']:5}  {sizes['largest']:5}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(measure()))
