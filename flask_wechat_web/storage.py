"""Where the current user's WeChat token is kept between requests.

A storage is any object with the three methods of :class:`TokenStorage`; a
site can plug in its own (Redis, a cache) without subclassing anything here.
Tokens are plain dicts carrying their own key: ``appid`` and ``openid``.
"""

from __future__ import annotations

import typing as t

from flask import has_request_context
from flask_login import logout_user

from . import _session
from .errors import ConfigurationError, StorageUnavailableError

if t.TYPE_CHECKING:
    from flask_sqlalchemy import SQLAlchemy

#: The token fields worth keeping; WeChat's answer has nothing else useful.
TOKEN_FIELDS = (
    "access_token",
    "refresh_token",
    "expires_at",
    "openid",
    "unionid",
    "scope",
    "appid",
)


class TokenStorage(t.Protocol):
    """The interface of a token storage.

    A storage may also have ``unavailable_as_error()``, returning a context
    manager that turns its backend being down into
    :class:`StorageUnavailableError`: the callback runs the user handler
    inside it, as :class:`SQLAlchemyStorage` has it.
    """

    def get(self) -> dict[str, t.Any] | None:
        """The current user's token, or ``None``."""

    def set(self, token: t.Mapping[str, t.Any], user: t.Any) -> None:
        """Keep ``token``.

        After a login ``user`` is the user just logged in. After a refresh it
        is ``None``: replace the stored copy of this token (same ``appid`` and
        ``openid``), if there is one.
        """

    def delete(self) -> None:
        """Forget the current user's token (on logout, or when it is dead)."""


def compact_token(token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The fields of ``token`` worth storing."""
    return {key: token[key] for key in TOKEN_FIELDS if token.get(key) is not None}


def same_account(a: t.Mapping[str, t.Any], b: t.Mapping[str, t.Any]) -> bool:
    return (a.get("appid"), a.get("openid")) == (b.get("appid"), b.get("openid"))


class SessionStorage:
    """Keeps the token in the Flask session (the default).

    Only the token's own secrets are stored (access token, refresh token,
    expiry); its ids are the session's record of the WeChat account, kept
    once for everything the extension stores. About 200 bytes of JSON, so
    the session cookie stays far below browsers' 4 KB limit.
    """

    #: The fields kept here; the rest of a token are the account's ids.
    _OWN_FIELDS = ("access_token", "refresh_token", "expires_at")

    def get(self) -> dict[str, t.Any] | None:
        data = _session.data()
        secrets, account = data.get("token"), data.account()
        if not (isinstance(secrets, list) and len(secrets) == 3 and secrets[0]) or account is None:
            return None
        appid, openid, unionid, scope = account
        ids = {"appid": appid, "openid": openid, "unionid": unionid, "scope": scope}
        return compact_token({**ids, **dict(zip(self._OWN_FIELDS, secrets, strict=True))})

    def set(self, token: t.Mapping[str, t.Any], user: t.Any) -> None:
        if not has_request_context():
            return  # a refresh outside a request: there is no session to update
        if user is None:
            stored = self.get()
            if stored is None or not same_account(stored, token):
                return  # not this browser's token
            token = {**stored, **token}
        data = _session.data()
        data.set_account(token)
        # A mini program's login has ids only: no token to keep.
        secrets = [token.get(key) for key in self._OWN_FIELDS]
        data.set("token", secrets if token.get("access_token") else None)

    def delete(self) -> None:
        _session.data().set("token", None)


class SQLAlchemyStorage:
    """Keeps tokens in a Flask-SQLAlchemy model, one row per appid + openid.

    The model combines :class:`~flask_wechat_web.sqla.WeChatAccountMixin`
    with a foreign key to the site's user model and a relationship to it,
    named ``user`` (or ``user_relationship``)::

        class WeChatAccount(WeChatAccountMixin, db.Model):
            user_id: Mapped[int] = mapped_column(db.ForeignKey(User.id))
            user: Mapped[User] = relationship()

        wechat = WeChatWeb(app, storage=SQLAlchemyStorage(db, WeChatAccount))

    A row outlives logout (only its tokens are cleared): it is the link
    between a WeChat identity and the site's user, which :meth:`find_user`
    follows on the next login.

    The row and a user the handler added are committed together by
    :meth:`set`, one transaction. When the database is down, every method
    raises :class:`StorageUnavailableError` (503) after a rollback, and a login
    that could not be saved is undone in the session too.
    """

    def __init__(
        self, db: SQLAlchemy, model: type[t.Any], *, user_relationship: str = "user"
    ) -> None:
        self.db = db
        self.model = model
        self.user_relationship = user_relationship

    def unavailable_as_error(self) -> t.ContextManager[None]:
        """Database errors inside become :class:`StorageUnavailableError`."""
        from .sqla import unavailable_as_error

        return unavailable_as_error(self.db.session)

    def _row(self, appid: t.Any, openid: t.Any) -> t.Any:
        query = self.db.select(self.model).filter_by(appid=appid, openid=openid)
        return self.db.session.execute(
            query.execution_options(populate_existing=True)
        ).scalar_one_or_none()

    def _current_row(self) -> t.Any:
        account = _session.data().account()
        if account is None:
            return None
        return self._row(*account[:2])

    def get(self) -> dict[str, t.Any] | None:
        with self.unavailable_as_error():
            row = self._current_row()
        if row is None or not row.access_token:
            return None
        return compact_token({key: getattr(row, key) for key in TOKEN_FIELDS})

    def set(self, token: t.Mapping[str, t.Any], user: t.Any) -> None:
        try:
            with self.unavailable_as_error():
                self._set(token, user)
        except StorageUnavailableError:
            if user is not None:  # the login is undone whole, session included
                _session.data().set("account", None)
                logout_user()
            raise

    def _set(self, token: t.Mapping[str, t.Any], user: t.Any) -> None:
        import sqlalchemy

        row = self._row(token["appid"], token["openid"])
        if row is None and user is None:
            return
        if row is None:
            row = self.model(appid=token["appid"], openid=token["openid"])
            self.db.session.add(row)
        for key in TOKEN_FIELDS:
            if key in token:
                setattr(row, key, token[key])
        if user is not None:
            if sqlalchemy.inspect(user, raiseerr=False) is None:
                self.db.session.rollback()
                raise ConfigurationError(
                    "SQLAlchemyStorage links tokens to the site's user model, but "
                    f"the login returned a {type(user).__name__}. Register a "
                    "@wechat.user_handler that returns your own users."
                )
            setattr(row, self.user_relationship, user)
            _session.data().set_account(token)
        self.db.session.commit()

    def delete(self) -> None:
        with self.unavailable_as_error():
            row = self._current_row()
            if row is not None:
                row.access_token = row.refresh_token = row.expires_at = None
                self.db.session.commit()
        _session.data().set("account", None)

    def find_user(self, identity: t.Any) -> t.Any:
        """The site's user linked to ``identity``, by its openid or else its unionid.

        Through the unionid, a person who logged in through the website app
        is found when they log in inside WeChat (another openid), and the
        other way round.
        """
        with self.unavailable_as_error():
            row = self._row(identity.appid, identity.openid)
            if row is None and identity.unionid:
                query = self.db.select(self.model).filter_by(unionid=identity.unionid)
                row = self.db.session.execute(query.limit(1)).scalar_one_or_none()
            return None if row is None else getattr(row, self.user_relationship)
