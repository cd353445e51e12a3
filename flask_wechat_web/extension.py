"""The ``WeChatWeb`` extension object: the app's setup, the user handler, the public calls.

What each app needs lives in its :class:`~flask_wechat_web.state.WeChatWebState`;
the ways in live in :mod:`flask_wechat_web.flows`.
"""

from __future__ import annotations

import contextlib
import time
import typing as t

from flask import Flask, current_app, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import LoginManager
from werkzeug.local import LocalProxy

from . import _session, bearer, builtin_user, i18n
from .cli import wechat_cli
from .client import AUTH_PATH, WeChatRemoteApp, is_expired
from .config import CREDENTIAL_KEYS, DEFAULTS
from .errors import NO_TOKEN, ConfigurationError, TokenExpiredError, WeChatAPIError
from .exchange import identity_of, userinfo_of
from .flows import FLOWS
from .flows.miniprogram import session_key_name
from .flows.qr import QR
from .identity import WeChatIdentity, WeChatUser
from .pages import configuration_error_page, private_routing_answers, safe_next
from .refresh import refresh, refresh_stored
from .server_token import server_token
from .state import WeChatWebState, get_state
from .storage import SessionStorage, TokenStorage
from .transport import install_log_scrubber
from .views import create_blueprint

UserHandler = t.Callable[[WeChatIdentity], t.Any]
ApiTokenHandler = t.Callable[[t.Any, WeChatIdentity], t.Mapping[str, t.Any]]


def _no_session_secret(app: Flask) -> bool:
    """Whether ``app`` has Flask's cookie session and no key to sign it with."""
    return (
        not app.secret_key
        and type(app.session_interface) is SecureCookieSessionInterface
        and not app.config.get("SESSION_TYPE")  # Flask-Session, set up after us
    )


#: errcodes of ``sns/auth`` that mean "this token is not valid".
_INVALID_TOKEN_CODES = frozenset({40001, 40003, 40014, 42001})


class WeChatWeb:
    """Sign in with WeChat for one or more Flask apps.

    :param app: the app to set up now; or call :meth:`init_app` later.
    :param url_prefix: where to mount the blueprint (default:
        ``WECHAT_WEB_URL_PREFIX``).
    :param register_blueprint: ``False`` to mount ``blueprint`` yourself.
    :param storage: where tokens are kept (default: :class:`SessionStorage`).
    :param clock: the time source for state expiry, for tests.
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        url_prefix: str | None = None,
        register_blueprint: bool = True,
        storage: TokenStorage | None = None,
        clock: t.Callable[[], float] | None = None,
    ) -> None:
        self.url_prefix = url_prefix
        self.register_blueprint = register_blueprint
        self.storage: TokenStorage = storage if storage is not None else SessionStorage()
        self.clock = clock or time.time
        self.blueprint = create_blueprint()
        self._user_handler: UserHandler | None = None
        #: The site's ``@wechat.api_token``, if any.
        self.api_token_handler: ApiTokenHandler | None = None
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Set up ``app``: config defaults and checks, the blueprint, Flask-Login.

        Reads the ``WECHAT_WEB_*`` keys (see the configuration page). A
        malformed setting, or an AppID without its AppSecret, raises
        :class:`ConfigurationError` naming the key. With neither set, the
        check waits for the first request, for app factories that set their
        config after ``init_app``.
        """
        if "wechat_web" in app.extensions:
            raise RuntimeError(
                "A WeChatWeb instance is already registered on this app. Create "
                "one WeChatWeb per app, or call init_app once."
            )
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        sandbox = None
        if app.config["WECHAT_WEB_SANDBOX"]:
            from .sandbox import install_sandbox

            sandbox = install_sandbox(app)
        state = WeChatWebState(self, app, FLOWS, sandbox)
        # With no credentials at all, the app factory may set them later:
        # check at the first request instead. Anything else is checked now.
        late = not any(app.config.get(key) for key in CREDENTIAL_KEYS)
        if not late:
            state.check_config()
            if _no_session_secret(app):
                raise ConfigurationError(_session.NO_SESSION)
        app.extensions["wechat_web"] = state
        if self.register_blueprint:
            prefix = self.url_prefix or app.config["WECHAT_WEB_URL_PREFIX"]
            app.register_blueprint(self.blueprint, url_prefix=prefix)
        self._init_login_manager(app)
        app.url_build_error_handlers.append(self._unregistered_blueprint)
        app.register_error_handler(ConfigurationError, configuration_error_page)
        app.after_request(private_routing_answers)
        app.add_template_global(self.login_url, "wechat_login_url")
        app.add_template_global(self.qrcode_options, "wechat_qrcode_options")
        # The macros' own words, in the extension's catalogs (a site's ``_`` is its own).
        app.add_template_global(i18n.template_text, "wechat_gettext")
        app.cli.add_command(wechat_cli)
        install_log_scrubber()

    def _init_login_manager(self, app: Flask) -> None:
        manager: LoginManager | None = getattr(app, "login_manager", None)
        if manager is None:
            manager = LoginManager(app)
            # Flask-Login's "Please log in" would greet the user back from
            # WeChat, already logged in.
            manager.login_message = None
        if manager.login_view is None:
            manager.login_view = "wechat.login"
        if getattr(manager, "_user_callback", None) is None:
            manager.user_loader(builtin_user.load)
        if getattr(manager, "_request_callback", None) is None:
            manager.request_loader(bearer.load_user)
        site_unauthorized = manager.unauthorized

        def unauthorized() -> t.Any:
            # A client with a refused bearer token cannot follow a redirect to WeChat.
            return bearer.unauthorized() if bearer.sent() else site_unauthorized()

        manager.unauthorized = unauthorized

    def _unregistered_blueprint(
        self, error: Exception, endpoint: str, values: dict[str, t.Any]
    ) -> str:
        """Flask's URL build error hook: a ``wechat.*`` URL with no blueprint to build it.

        ``@login_required`` meets it first, when ``login_view`` is ``"wechat.login"``.
        """
        registered = current_app.blueprints.get("wechat") is self.blueprint
        if endpoint.startswith("wechat.") and not registered:
            raise ConfigurationError(
                f"Cannot build the URL of {endpoint!r}: the wechat blueprint is not "
                "registered on this app. With WeChatWeb(app, register_blueprint=False), "
                "register it yourself: app.register_blueprint(wechat.blueprint, "
                "url_prefix='/wechat')."
            )
        raise error

    def user_handler(self, fn: UserHandler) -> UserHandler:
        """Register ``fn(identity) -> user | None``, called on every login.

        Return the site's user for the :class:`WeChatIdentity` (create it if
        new), or ``None`` to refuse the login. Without a handler, a
        :class:`WeChatUser` is logged in.
        """
        self._user_handler = fn
        return fn

    def api_token(self, fn: ApiTokenHandler) -> ApiTokenHandler:
        """Register ``fn(user, identity) -> dict``: the site's own token for an app's login.

        Its keys are merged into the JSON answer of ``/app/login`` and
        ``/miniprogram/login``: it may replace ``access_token``,
        ``token_type`` and ``expires_in`` (flask-jwt-extended's token, say)
        and add its own.
        """
        self.api_token_handler = fn
        return fn

    def session_key(self, openid: str) -> str | None:
        """The mini program's latest ``session_key`` for ``openid``, kept on the server.

        For decrypting what the mini program sends (``encryptedData``); never
        send it to the client. ``None`` once the login it came with expired.
        """
        state = get_state()
        appid = state.config.get("WECHAT_WEB_MINIPROGRAM_APPID") or ""
        with state.store_calls() as store:
            return t.cast("str | None", store.get(session_key_name(appid, openid)))

    def user_for(self, identity: WeChatIdentity) -> t.Any:
        """The user to log in for ``identity``, from the handler or built in.

        A site user needs a Flask-Login ``user_loader`` of the site's own:
        with only the built-in one, it is a :class:`ConfigurationError`. A
        refusal (``None``) needs none.
        """
        handler = self._user_handler
        if handler is None:
            user = WeChatUser(identity)
        else:
            guard = getattr(self.storage, "unavailable_as_error", contextlib.nullcontext)
            with guard():  # the handler's own queries: a lost database is a clean 503
                user = handler(identity)
        # A handler may return current_user itself: log in what it stands for.
        if isinstance(user, LocalProxy):
            user = user._get_current_object()
        manager = getattr(current_app, "login_manager", None)
        if user is None or getattr(manager, "_user_callback", None) is not builtin_user.load:
            return user
        if not isinstance(user, WeChatUser):
            raise ConfigurationError(
                f"The @wechat.user_handler returned a {type(user).__name__}, but "
                "Flask-Login has no user_loader for the site's users, so the user "
                "would be logged out on the next request. Register one: "
                "@login_manager.user_loader, given user.get_id()."
            )
        builtin_user.remember(user.identity)
        return user

    def server_token(self, rejected: str | None = None) -> str:
        """The Official Account's server access token, for WeChat's ``cgi-bin`` API.

        One ``stable_token`` fetch per expiry for every worker and host: it is
        held in ``WECHAT_WEB_STORE`` and refetched a minute before it expires.
        Pass a token WeChat just refused with 40001 (replaced elsewhere) as
        ``rejected`` to get a new one; retry the call once with it, not more.
        WeChat's quota (45009) and IP allow-list (40164, 61004) refusals are a
        :class:`ConfigurationError` naming the console setting; a store that
        does not answer, a :class:`StorageUnavailableError`.
        """
        return server_token(get_state(), rejected)

    def login_url(self, next: str | None = None) -> str:
        """The URL that starts a WeChat login and comes back to ``next``."""
        return url_for("wechat.login", next=next)

    def qrcode_options(
        self, next: str | None = None, self_redirect: bool = False
    ) -> dict[str, t.Any]:
        """The options for ``new WxLogin(...)``: an embedded QR code's login.

        Each call starts a pending login (a new state). The ``wechat/macros.html``
        macro ``wechat_qrcode`` renders the container and the script with them.
        """
        return QR.wxlogin_options(safe_next(next), self_redirect)

    @property
    def remote(self) -> WeChatRemoteApp:
        """The Authlib remote app of the website app (``"wechat"``)."""
        return get_state().remote(QR)

    @property
    def token(self) -> dict[str, t.Any] | None:
        """The current user's token dict, or ``None``.

        An access token past its ``expires_at`` is refreshed first (and the
        fresh token stored). A dead refresh token raises
        :class:`TokenExpiredError` and drops the stored token: the user must
        log in again.
        """
        token = self.storage.get()
        if token is not None and is_expired(token):
            token = refresh_stored(get_state(), token)
        return token

    def fetch_identity(
        self, token: t.Mapping[str, t.Any] | None, lang: str | None = None
    ) -> WeChatIdentity:
        """The :class:`WeChatIdentity` of ``token``, with its profile from ``sns/userinfo``.

        A token WeChat rejects (expired or revoked early) is refreshed once,
        and stored if it is the current user's, as for every call made with a
        user's token. No token (``wechat.token`` of a user who has none) is a
        :class:`TokenExpiredError`.
        """
        state, token = get_state(), _given(token)
        flow = state.flow_of(token)
        userinfo = userinfo_of(state, flow, token, lang)
        return identity_of(state, flow, token, userinfo=userinfo)

    def refresh_token(self, token: t.Mapping[str, t.Any] | None) -> dict[str, t.Any]:
        """A fresh token for ``token``, through ``sns/oauth2/refresh_token``."""
        state, token = get_state(), _given(token)
        return refresh(state, state.flow_of(token), token)

    def check_token(self, token: t.Mapping[str, t.Any] | None) -> bool:
        """Whether WeChat still accepts ``token``'s access token (``sns/auth``).

        A pure question: the token is never refreshed here.
        """
        state, token = get_state(), _given(token)
        remote = state.remote(state.flow_of(token))
        try:
            remote.get_json(AUTH_PATH, access_token=token["access_token"], openid=token["openid"])
        except WeChatAPIError as error:
            if error.errcode in _INVALID_TOKEN_CODES:
                return False
            raise
        return True


def _given(token: t.Mapping[str, t.Any] | None) -> t.Mapping[str, t.Any]:
    """``token``; ``None`` (``wechat.token`` of a user with none) is a clear error."""
    if token is None:
        raise TokenExpiredError(NO_TOKEN)
    return token
