"""The columns of a Flask-SQLAlchemy model for :class:`SQLAlchemyStorage`.

Kept apart from ``storage.py`` so that SQLAlchemy is imported only by sites
that use it.
"""

from __future__ import annotations

import contextlib
import typing as t
from datetime import datetime, timezone

from sqlalchemy import String, UniqueConstraint, exc
from sqlalchemy.orm import Mapped, Session, mapped_column, scoped_session

from .errors import StorageUnavailableError

#: What SQLAlchemy raises when the database is down, restarting or unreachable.
UNAVAILABLE = (exc.OperationalError, exc.InterfaceError, exc.TimeoutError)


def _now() -> datetime:
    return datetime.now(timezone.utc)


class WeChatAccountMixin:
    """One WeChat account (an openid of one app) and its token.

    Add a foreign key to your user model and a ``user`` relationship::

        class WeChatAccount(WeChatAccountMixin, db.Model):
            user_id: Mapped[int] = mapped_column(db.ForeignKey(User.id))
            user: Mapped[User] = relationship()

    ``openid`` is unique per app, hence the key ``(appid, openid)``;
    ``unionid`` is the same for one person across apps bound to one Open
    Platform account, hence its index. Tokens are ``NULL`` after logout.
    """

    __table_args__ = (UniqueConstraint("appid", "openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    appid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    scope: Mapped[str | None] = mapped_column(String(64))
    access_token: Mapped[str | None] = mapped_column(String(512))
    refresh_token: Mapped[str | None] = mapped_column(String(512))
    #: Seconds since the epoch when the access token expires.
    expires_at: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=_now, onupdate=_now)


@contextlib.contextmanager
def unavailable_as_error(session: Session | scoped_session[t.Any]) -> t.Iterator[None]:
    """Turn a lost database into :class:`StorageUnavailableError`, the session rolled back.

    So a login whose user or token could not be written ends on the clean
    503 page, with nothing of it left in the database.
    """
    try:
        yield
    except UNAVAILABLE as error:
        with contextlib.suppress(exc.SQLAlchemyError):
            session.rollback()
        raise StorageUnavailableError() from error
