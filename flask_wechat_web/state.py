"""What one app needs to log people in: its settings checked, its remote apps, its pool.

The extension object may serve several apps; each keeps a
:class:`WeChatWebState` in ``app.extensions["wechat_web"]``, where the views
and the CLI read it, as Flask-SQLAlchemy's CLI reads its own.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import typing as t

from authlib.integrations.flask_client import OAuth
from cachelib import BaseCache, FileSystemCache
from flask import Flask, current_app, session, url_for
from flask.sessions import NullSession

from . import _session
from .client import WeChatRemoteApp, registration
from .config import problems, relay_only
from .errors import ConfigurationError, StorageUnavailableError, WeChatError
from .refresh import refresh_stored, store_refreshed
from .transport import ConnectionPool

if t.TYPE_CHECKING:
    from .extension import WeChatWeb
    from .flows.base import Flow
    from .testing.fake import FakeWeChat


def get_state(app: Flask | None = None) -> WeChatWebState:
    """The per-app state of the current (or given) app."""
    app = app or current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        return t.cast(WeChatWebState, app.extensions["wechat_web"])
    except KeyError:
        raise RuntimeError(
            "Flask-WeChat-Web is not set up on this app: call "
            "WeChatWeb(app) or wechat.init_app(app) first."
        ) from None


def login_state() -> WeChatWebState:
    """The current app's state, ready for a login request, else a :class:`ConfigurationError`.

    Checked on every request of the blueprint, for app factories that set
    their config after ``init_app``: the settings, a site that only relays,
    a session Flask can keep (no ``SECRET_KEY``, say).
    """
    state = get_state()
    state.check_logins()
    if isinstance(session, NullSession):
        raise ConfigurationError(_session.NO_SESSION)
    return state


class WeChatWebState:
    """One app's Authlib registry, connection pool, sandbox and ways in."""

    def __init__(
        self,
        extension: WeChatWeb,
        app: Flask,
        flows: t.Sequence[Flow],
        sandbox: FakeWeChat | None,
    ) -> None:
        self.extension = extension
        self.app = app
        self.flows = flows
        self.sandbox = sandbox
        self.pool = ConnectionPool()
        if sandbox is not None:
            from .sandbox import sandbox_transport

            self.pool.mounts.update(sandbox_transport(sandbox))
        self.registry = OAuth()
        # Not registry.init_app(app): that claims
        # app.extensions["authlib.integrations.flask_client"], which the site
        # may use for its own providers.
        self.registry.app = app
        self._lock = threading.Lock()
        self._config_checked = False
        #: The ways in whose logins came without a unionid, said once each.
        self.warned_no_unionid: set[str] = set()
        self.refresh_locks = [threading.Lock() for _ in range(32)]
        #: This process's turn at fetching the Official Account's server token.
        self.server_token_lock = threading.Lock()
        self._store: BaseCache | None = None

    @property
    def store(self) -> BaseCache:
        """``WECHAT_WEB_STORE``: what must stay on the server (revoked tokens, session keys).

        Unset, a ``FileSystemCache`` in the app's instance folder, made on
        first use: one host, any number of workers.
        """
        configured = self.config.get("WECHAT_WEB_STORE")
        if configured is not None:
            return t.cast(BaseCache, configured)
        with self._lock:
            if self._store is None:
                folder = os.path.join(self.app.instance_path, "wechat_web_store")
                self._store = FileSystemCache(folder, threshold=0, mode=0o600)
        return self._store

    @contextlib.contextmanager
    def store_calls(self) -> t.Iterator[BaseCache]:
        """The store, whose failure (a Redis restart) is a :class:`StorageUnavailableError`.

        cachelib passes on its backend's own errors (redis-py's), which would
        otherwise be a 500. Never the error's text: it may name the server's URL.
        """
        try:
            yield self.store
        except WeChatError:
            raise
        except Exception as error:
            raise StorageUnavailableError(
                f"WECHAT_WEB_STORE did not answer ({type(error).__name__}). Check the "
                "cache server it names; nothing was changed."
            ) from None

    @property
    def config(self) -> t.Mapping[str, t.Any]:
        return self.app.config

    def check_config(self) -> None:
        """Raise :class:`ConfigurationError` listing every problem, once clean."""
        if self._config_checked:
            return
        found = problems(self.config, debug=self.app.debug or self.app.testing)
        if found:
            raise ConfigurationError("Flask-WeChat-Web is not configured:\n" + "\n".join(found))
        self._config_checked = True

    def check_logins(self) -> None:
        """:meth:`check_config`, and refuse on a site that only relays callbacks.

        Every route but the relay, and every helper that starts a login or
        calls WeChat, goes through here: such a site has no AppID to log in with.
        """
        self.check_config()
        if relay_only(self.config):
            raise ConfigurationError(
                "WECHAT_WEB_APPID is not set: this site only relays WeChat's callbacks "
                "(WECHAT_WEB_RELAY_SITES) and cannot log anyone in itself."
            )

    def flow_named(self, name: str) -> Flow:
        """The way in called ``name`` (``"qr"``, ``"mp"``), as a pending login names it."""
        return next(flow for flow in self.flows if flow.name == name)

    def flow_of(self, token: t.Mapping[str, t.Any]) -> Flow:
        """Which way in issued ``token``: the one whose AppID it carries.

        Else the website app's, which takes any browser.
        """
        appid = token.get("appid")
        for flow in self.flows:
            if appid and appid == self.config.get(flow.appid_key):
                return flow
        return self.flow_named("qr")

    def callback_url(self) -> str:
        return t.cast(
            str,
            self.config["WECHAT_WEB_CALLBACK_URL"] or url_for("wechat.authorized", _external=True),
        )

    def remote(self, flow: Flow) -> WeChatRemoteApp:
        """The Authlib remote app for ``flow``, registered on first use."""
        self.check_logins()
        client = self.registry.create_client(flow.remote_name)
        if client is None:
            with self._lock:
                client = self.registry.create_client(flow.remote_name) or self._register(flow)
        return t.cast(WeChatRemoteApp, client)

    def _register(self, flow: Flow) -> WeChatRemoteApp:
        config = self.config
        open_url = config["WECHAT_WEB_OPEN_BASE_URL"].rstrip("/")
        settings = registration(
            appid=config[flow.appid_key],
            secret=config[flow.secret_key],
            authorize_url=f"{open_url}/{flow.authorize_path}",
            api_base_url=config["WECHAT_WEB_API_BASE_URL"],
            scope=flow.scope(config),
            timeout=config["WECHAT_WEB_TIMEOUT"],
        )
        settings["client_kwargs"]["pool"] = self.pool
        remote = t.cast(
            WeChatRemoteApp,
            self.registry.register(
                flow.remote_name,
                client_cls=WeChatRemoteApp,
                fetch_token=lambda: self.extension.token,
                update_token=functools.partial(store_refreshed, self, config[flow.appid_key]),
                **settings,
            ),
        )
        remote.renew_token = functools.partial(refresh_stored, self)
        return remote
