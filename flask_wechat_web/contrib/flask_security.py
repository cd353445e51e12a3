"""Sign in with WeChat on a Flask-Security-Too site: an ``FsOAuthProvider``.

Flask-Security's own views start the login and take WeChat's answer, so its
``login_user`` (two-factor, tracking, freshness) is what logs the person in.
This module supplies what those views cannot do alone: WeChat's dialect
(the project's :class:`~flask_wechat_web.client.WeChatRemoteApp`), the
Official Account's authorize page inside WeChat, and how a WeChat account
meets the site's users. Flask-Security finds a user only by one of its
``SECURITY_USER_IDENTITY_ATTRIBUTES``; the WeChat key (``unionid``, else
``openid``) is kept in a column of its own that is *not* one of them (it is
no username to type into the password form), so the provider finds the user
by that column and hands Flask-Security one of the user's identity
attributes. A WeChat account with no user here is refused unless the site
gives ``create_user``; a logged-in user links one through
:attr:`WeChatProvider.link_blueprint`.
"""

from __future__ import annotations

import logging
import typing as t

from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from authlib.integrations.flask_client.integration import FlaskIntegration
from flask import Blueprint, current_app, flash, redirect, request, session, url_for
from flask_login import current_user
from flask_security import FsOAuthProvider, auth_required, get_url
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from .. import i18n
from ..agents import in_wechat_browser
from ..answers import USERINFO_PATH
from ..client import WeChatRemoteApp, parse_body, registration
from ..config import DEFAULTS
from ..errors import MalformedAnswerError, WeChatError
from ..identity import WeChatIdentity

__all__ = ["WeChatProvider", "WeChatLoginError"]

logger = logging.getLogger("flask_wechat_web.contrib.flask_security")

QR_AUTHORIZE_PATH = "connect/qrconnect"
MP_AUTHORIZE_PATH = "connect/oauth2/authorize"

CreateUser = t.Callable[[WeChatIdentity], t.Any]


class WeChatLoginError(OAuthError):  # type: ignore[misc]
    """A WeChat login Flask-Security cannot finish; ``description`` is for the person."""


class FsWeChatApp(WeChatRemoteApp):
    """The website app's remote app; inside WeChat it hands over to the Official Account's.

    Flask-Security asks one remote app per provider name to redirect and to
    redeem. WeChat's browser cannot scan a QR code on its own screen, so
    there the Official Account's authorize page is used: its remote app (the
    ``in_wechat`` sibling, an Authlib app of its own so its state is kept
    under its own name) starts the login, and the callback is redeemed by
    whichever app's state the session holds. Failures become
    :class:`WeChatLoginError`, the error Flask-Security's views catch.
    """

    #: The Official Account's remote app, if one is configured.
    in_wechat: FsWeChatApp | None = None

    def authorize_redirect(self, redirect_uri: str | None = None, **kwargs: t.Any) -> t.Any:
        sibling = self.in_wechat
        if sibling is not None and in_wechat_browser(request.user_agent.string):
            return sibling.authorize_redirect(redirect_uri, **kwargs)
        return super().authorize_redirect(redirect_uri, **kwargs)

    def create_authorization_url(self, redirect_uri: str | None = None, **kwargs: t.Any) -> t.Any:
        # The session's WeChat-shaped URL makes no state of its own (the
        # extension brings its pending login's): Authlib's kind, letters and
        # digits as WeChat's 128-byte limit allows.
        kwargs.setdefault("state", generate_token(32))
        return super().create_authorization_url(redirect_uri, **kwargs)

    def authorize_access_token(self, **kwargs: t.Any) -> dict[str, t.Any]:
        """The token for the code WeChat sent back, with ``appid`` (whose openid it is)."""
        state = request.args.get("state")
        sibling = self.in_wechat
        if sibling is not None and sibling.framework.get_state_data(session, state):
            return sibling.redeem(**kwargs)
        return self.redeem(**kwargs)

    def redeem(self, **kwargs: t.Any) -> dict[str, t.Any]:
        # WeChat's "deny" sends the state back without a code.
        if not request.args.get("code"):
            raise WeChatLoginError("access_denied", i18n.gettext("The WeChat login was canceled."))
        try:
            token = dict(super().authorize_access_token(**kwargs))
        except WeChatError as error:
            logger.warning("WeChat login failed: %s", error.message)
            raise WeChatLoginError("wechat", str(error.user_message)) from None
        token["appid"] = self.client_id
        return token

    def userinfo(self, token: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        """``sns/userinfo`` for ``token`` (the profile a ``create_user`` may want)."""
        resp = self.request("GET", USERINFO_PATH, token=dict(token), params={"lang": "zh_CN"})
        info = parse_body(resp, USERINFO_PATH)
        if info["openid"] != token["openid"]:
            raise MalformedAnswerError(USERINFO_PATH, "openid", "is not the token's openid")
        return info


class _LinkForm(FlaskForm):  # type: ignore[misc]
    """No fields: the CSRF token of the link and unlink buttons."""


class WeChatProvider(FsOAuthProvider):
    """Sign in with WeChat on Flask-Security-Too.

    Register it with ``security.oauthglue.register_provider_ext(provider)``,
    then ``app.register_blueprint(provider.link_blueprint)`` for linking.

    :param name: the provider's name in Flask-Security's URLs and buttons.
    :param config: where the ``WECHAT_WEB_*`` settings are (the extension's
        keys); default ``current_app.config``.
    :param user_attribute: the user model's column holding the WeChat key
        (``unionid`` when WeChat gives one, else ``openid``).
    :param create_user: called with the :class:`~flask_wechat_web.WeChatIdentity` of a WeChat
        account no user here has; returns a new user (not yet committed) or
        ``None`` to refuse. Default: refuse.
    """

    def __init__(
        self,
        name: str = "wechat",
        *,
        config: t.Mapping[str, t.Any] | None = None,
        user_attribute: str = "wechat_id",
        create_user: CreateUser | None = None,
    ) -> None:
        super().__init__(name)
        self._config = config
        self.user_attribute = user_attribute
        self.create_user = create_user
        self.link_blueprint = self._link_blueprint()

    def _setting(self, key: str) -> t.Any:
        config = current_app.config if self._config is None else self._config
        return config.get(key, DEFAULTS.get(key))

    def _app_kwargs(
        self, appid_key: str, secret_key: str, path: str, scope: str
    ) -> dict[str, t.Any]:
        open_url = self._setting("WECHAT_WEB_OPEN_BASE_URL").rstrip("/")
        return registration(
            appid=self._setting(appid_key),
            secret=self._setting(secret_key),
            authorize_url=f"{open_url}/{path}",
            api_base_url=self._setting("WECHAT_WEB_API_BASE_URL"),
            scope=scope,
            timeout=self._setting("WECHAT_WEB_TIMEOUT"),
        )

    def authlib_config(self) -> dict[str, t.Any]:
        """The website app (QR page), and the Official Account's app when configured."""
        if not self._setting("WECHAT_WEB_APPID") or not self._setting("WECHAT_WEB_SECRET"):
            raise ValueError("WeChatProvider needs WECHAT_WEB_APPID and WECHAT_WEB_SECRET.")
        return {
            "client_cls": self._client_cls(),
            **self._app_kwargs(
                "WECHAT_WEB_APPID",
                "WECHAT_WEB_SECRET",
                QR_AUTHORIZE_PATH,
                self._setting("WECHAT_WEB_SCOPE"),
            ),
        }

    def _client_cls(self) -> type[FsWeChatApp]:
        """``FsWeChatApp``, given the Official Account's app when one is configured."""
        if not self._setting("WECHAT_WEB_MP_APPID") or not self._setting("WECHAT_WEB_MP_SECRET"):
            return FsWeChatApp
        name = f"{self.name}_mp"
        mp_kwargs = self._app_kwargs(
            "WECHAT_WEB_MP_APPID",
            "WECHAT_WEB_MP_SECRET",
            MP_AUTHORIZE_PATH,
            self._setting("WECHAT_WEB_MP_SCOPE"),
        )
        sibling = FsWeChatApp(FlaskIntegration(name), name, **mp_kwargs)
        return type("FsWeChatWebsiteApp", (FsWeChatApp,), {"in_wechat": sibling})

    def identity(self, remote: FsWeChatApp, token: t.Mapping[str, t.Any]) -> WeChatIdentity:
        """Who ``token`` stands for; the profile is fetched only if read."""
        if remote.in_wechat is not None and token.get("appid") == remote.in_wechat.client_id:
            remote, source = remote.in_wechat, "mp"
        else:
            source = "qr"
        return WeChatIdentity(
            token["appid"],
            token["openid"],
            token.get("unionid"),
            token.get("scope") or "snsapi_login",
            source=source,
            load_userinfo=lambda: remote.userinfo(token),
        )

    def key(self, identity: WeChatIdentity) -> str:
        """The user column's value for ``identity``: its unionid, else its openid."""
        return identity.unionid or identity.openid

    def find_user(self, identity: WeChatIdentity) -> t.Any:
        """The site's user linked to ``identity``, if any."""
        datastore = current_app.extensions["security"].datastore
        return datastore.find_user(**{self.user_attribute: self.key(identity)})

    def fetch_identity_cb(self, oauth: OAuth, token: t.Any) -> tuple[str, t.Any]:
        """The user's Flask-Security identity attribute, found by the WeChat key.

        A stranger is created by ``create_user`` or refused.
        """
        identity = self.identity(getattr(oauth, self.name), token)
        user = self.find_user(identity)
        if user is None and self.create_user is not None:
            try:
                user = self.create_user(identity)
            except WeChatError as error:  # reading the profile
                logger.warning("WeChat login failed: %s", error.message)
                raise WeChatLoginError("wechat", str(error.user_message)) from None
            if user is not None:
                setattr(user, self.user_attribute, self.key(identity))
                datastore = current_app.extensions["security"].datastore
                datastore.put(user)
                datastore.commit()
        if user is None:
            raise WeChatLoginError(
                "not_linked",
                i18n.gettext(
                    "No account here is linked to this WeChat account. Log in another "
                    "way, then link WeChat to your account."
                ),
            )
        for attributes in current_app.config["SECURITY_USER_IDENTITY_ATTRIBUTES"]:
            for attribute in attributes:
                value = getattr(user, attribute, None)
                if value:
                    return attribute, value
        raise WeChatLoginError(
            "no_identity",
            i18n.gettext("This account has no identity to log in with. Please contact the site."),
        )

    def oauth_response_failure(self, error_view: str, e: OAuthError) -> t.Any:
        """Ours in the person's words (not a "handshake error"); others as FS does."""
        if not isinstance(e, WeChatLoginError):
            return super().oauth_response_failure(error_view, e)
        if current_app.config["SECURITY_REDIRECT_BEHAVIOR"] == "spa":
            target = current_app.config[f"SECURITY_{error_view}"]
            return redirect(get_url(target, qparams={"error": e.description}))
        flash(e.description, "error")
        return redirect(url_for("security.login"))

    def _link_blueprint(self) -> Blueprint:
        """``POST /<name>/link`` starts linking WeChat to the current user; ``unlink`` ends it."""
        bp = Blueprint(f"{self.name}_link", __name__, url_prefix=f"/login/{self.name}")
        login_fresh = auth_required(
            lambda: current_app.config["SECURITY_API_ENABLED_METHODS"],
            within=lambda: current_app.config["SECURITY_FRESHNESS"],
            grace=lambda: current_app.config["SECURITY_FRESHNESS_GRACE_PERIOD"],
        )
        bp.add_url_rule("/link", "link", login_fresh(self._link_start), methods=["POST"])
        bp.add_url_rule("/linked", "linked", login_fresh(self._linked))
        bp.add_url_rule("/unlink", "unlink", login_fresh(self._unlink), methods=["POST"])
        bp.app_context_processor(lambda: {"wechat_link_form": _LinkForm})
        return bp

    def _remote(self) -> FsWeChatApp:
        glue = current_app.extensions["security"].oauthglue
        return t.cast(FsWeChatApp, glue.authlib_provider(self.name))

    def _done(self, message: str, category: str = "info") -> Response:
        flash(message, category)
        return redirect(get_url(current_app.config["SECURITY_POST_LOGIN_VIEW"]))

    def _link_start(self) -> Response:
        if not _LinkForm().validate_on_submit():
            return self._done(i18n.gettext("The form expired. Please try again."), "error")
        callback = url_for(f"{self.name}_link.linked", _external=True)
        return t.cast(Response, self._remote().authorize_redirect(callback))

    def _linked(self) -> Response:
        remote = self._remote()
        try:
            identity = self.identity(remote, remote.authorize_access_token())
        except OAuthError as error:
            return self._done(str(error.description or error.error), "error")
        owner = self.find_user(identity)
        user = current_user._get_current_object()
        if owner is not None and owner is not user:
            return self._done(
                i18n.gettext("This WeChat account is already linked to another account."),
                "error",
            )
        datastore = current_app.extensions["security"].datastore
        setattr(user, self.user_attribute, self.key(identity))
        datastore.put(user)
        datastore.commit()
        return self._done(i18n.gettext("WeChat is linked: you can log in with it."))

    def _unlink(self) -> Response:
        if not _LinkForm().validate_on_submit():
            return self._done(i18n.gettext("The form expired. Please try again."), "error")
        datastore = current_app.extensions["security"].datastore
        setattr(current_user, self.user_attribute, None)
        datastore.put(current_user)
        datastore.commit()
        return self._done(i18n.gettext("WeChat is unlinked from your account."))
