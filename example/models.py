"""The example's users, and the WeChat accounts linked to them."""

from __future__ import annotations

from flask_login import UserMixin
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from flask_wechat_web.sqla import WeChatAccountMixin


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    """A person using the site. Nickname and avatar are from their first WeChat login."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # 4-byte UTF-8 (emoji): fine on SQLite and PostgreSQL; on MySQL use utf8mb4.
    nickname: Mapped[str | None] = mapped_column(String(100))
    headimgurl: Mapped[str | None] = mapped_column(String(512))
    unionid: Mapped[str | None] = mapped_column(String(64), index=True)
    accounts: Mapped[list[WeChatAccount]] = relationship(
        back_populates="user", order_by="WeChatAccount.updated_at.desc()"
    )

    @property
    def openid(self) -> str | None:
        """The openid of the WeChat app used most recently."""
        return self.accounts[0].openid if self.accounts else None

    @property
    def appid(self) -> str | None:
        return self.accounts[0].appid if self.accounts else None


class WeChatAccount(WeChatAccountMixin, db.Model):  # type: ignore[name-defined,misc]
    """One openid of one WeChat app, its token, and whose it is."""

    user_id: Mapped[int] = mapped_column(ForeignKey(User.id))
    user: Mapped[User] = relationship(back_populates="accounts")
