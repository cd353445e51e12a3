"""The sandbox: a fake WeChat served by the site itself, for development.

With ``WECHAT_WEB_SANDBOX = True`` the app mounts :class:`FakeWeChat` at
``/_wechat_sandbox``, points both base URLs there, and fills in sample
credentials when none are set, so a login works with no WeChat account.
The browser meets the fake's consent page, in the language the site chose
for the person (as the extension's own pages get it), with a way back to the
site after a denial; the server's calls to the fake API stay in-process.
Codes go back only to the site's own host (that of
``WECHAT_WEB_CALLBACK_URL`` or ``SERVER_NAME`` when set, else the host the
page is served on). ``/_wechat_sandbox/app-codes`` plays the part of the
site's mobile app and mini program: a sample user's code, and the ``curl``
line that posts it to the site; ``/_wechat_sandbox/message`` plays the
person's chat with the Official Account (a message pushed to the site, its
reply shown). Only ever on with ``app.debug`` or
``app.testing``: anyone could log in as anyone.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable

import requests
from flask import Flask, url_for
from requests.adapters import BaseAdapter
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.wrappers import Request

from . import i18n
from .errors import ConfigurationError
from .testing.app_codes import APP_CODES_PATH, app_codes_page
from .testing.fake import WXLOGIN_JS_PATH, FakeApp, FakeWeChat, callback_domain
from .testing.messages import MESSAGE_PATH, message_page
from .testing.pages import SITE_LOCALE_KEY, SITE_ROOT_KEY
from .testing.scan import SCAN_PATH, scan_page
from .testing.transport import WSGIAdapter

if t.TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

MOUNT_PATH = "/_wechat_sandbox"
#: The API host the sandbox's in-process transport answers for.
API_HOST = "http://wechat-sandbox.invalid"
API_BASE_URL = API_HOST + MOUNT_PATH
#: The chat with the Official Account, under the site's root.
MESSAGE_URL = MOUNT_PATH + MESSAGE_PATH
#: The credentials each sample app of the fake stands in for.
_PREFIXES = {
    "website_app": "WECHAT_WEB_",
    "mp_app": "WECHAT_WEB_MP_",
    "mobile_app": "WECHAT_WEB_APP_",
    "miniprogram": "WECHAT_WEB_MINIPROGRAM_",
}


def install_sandbox(app: Flask) -> FakeWeChat:
    """Mount the fake on ``app`` and point the configuration at it."""
    if not (app.debug or app.testing):
        raise ConfigurationError(
            "WECHAT_WEB_SANDBOX is on but the app is not in debug or testing "
            "mode. The sandbox lets anyone log in as anyone, so it refuses to "
            "run in production: turn WECHAT_WEB_SANDBOX off, or run with "
            "--debug for development."
        )
    config = app.config
    fake = FakeWeChat(domain=callback_domain(app))
    named = config.get("WECHAT_WEB_CALLBACK_URL") or config.get("SERVER_NAME")
    fake.own_host_is_domain = not named
    site_apps = {}
    for name, prefix in _PREFIXES.items():
        sample: FakeApp = getattr(fake, name)
        appid, secret = config.get(f"{prefix}APPID"), config.get(f"{prefix}SECRET")
        if appid and secret:
            own = fake.add_app(appid, secret, kind=sample.kind, domain=sample.domain)
            site_apps[sample.kind] = own
        else:
            config[f"{prefix}APPID"], config[f"{prefix}SECRET"] = (
                sample.appid,
                sample.secret,
            )
            site_apps[sample.kind] = sample
    config["WECHAT_WEB_OPEN_BASE_URL"] = MOUNT_PATH
    config["WECHAT_WEB_API_BASE_URL"] = API_BASE_URL
    config["WECHAT_WEB_WXLOGIN_JS_URL"] = MOUNT_PATH + WXLOGIN_JS_PATH
    _push_to_site(app, fake)
    app.wsgi_app = DispatcherMiddleware(  # type: ignore[method-assign]
        app.wsgi_app, {MOUNT_PATH: _SiteChoices(app, fake, site_apps)}
    )
    app.logger.warning(
        "WeChat sandbox is on: logins go to the fake WeChat at %s, not to WeChat. "
        "Codes for a mobile app or a mini program: %s.",
        MOUNT_PATH,
        MOUNT_PATH + APP_CODES_PATH,
    )
    return fake


class _SiteChoices:
    """Tells the fake's pages what the site chose: the person's language, its root.

    The site's locale comes from a request context of the site's own app, so
    Flask-Babel's selector, ``WECHAT_WEB_UI_LOCALE`` and ``Accept-Language``
    decide as they do for the extension's pages. The app-codes page is the
    sandbox's own: it needs the site's apps and login URLs.
    """

    def __init__(self, app: Flask, fake: FakeWeChat, apps: dict[str, FakeApp]) -> None:
        self.app, self.fake, self.apps = app, fake, apps

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self.app.request_context(environ):
            environ[SITE_LOCALE_KEY] = locale = i18n.current_locale()
        script_name = str(environ.get("SCRIPT_NAME", ""))
        site_root = script_name.removesuffix(MOUNT_PATH)
        environ[SITE_ROOT_KEY] = site_root + "/"
        path = environ.get("PATH_INFO")
        if path not in (APP_CODES_PATH, SCAN_PATH, MESSAGE_PATH):
            return self.fake.open_app(environ, start_response)
        site = {**environ, "SCRIPT_NAME": site_root, "PATH_INFO": "/"}
        if path in (SCAN_PATH, MESSAGE_PATH):
            with self.app.request_context(site):
                push_url = url_for("wechat.mp_push", _external=True)
            request = Request(environ)
            if path == SCAN_PATH:
                answer = scan_page(self.fake, request, locale, self.apps["mp"], push_url)
            else:
                answer = message_page(self.fake, request, locale, push_url)
            return answer(environ, start_response)
        with self.app.request_context(site):
            # The app routes sit beside the login route, under the blueprint's prefix.
            base = url_for("wechat.login", _external=True).rpartition("/")[0]
        urls = {"app": f"{base}/app/login", "miniprogram": f"{base}/miniprogram/login"}
        page = app_codes_page(self.fake, Request(environ), locale, self.apps, urls)
        return page(environ, start_response)


def _push_to_site(app: Flask, fake: FakeWeChat) -> None:
    """The fake's pushes go to ``app`` in-process, signed with the sample account's keys.

    The push Token and EncodingAESKey are the sample account's unless the
    site set its own.
    """
    if not app.config.get("WECHAT_WEB_MP_TOKEN"):
        app.config.update(fake.push_config())
    session = requests.Session()
    adapter = WSGIAdapter(app)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    fake.push_session = session


def sandbox_transport(fake: FakeWeChat) -> dict[str, BaseAdapter]:
    """The adapter that answers the sandbox's API host in-process."""
    api = DispatcherMiddleware(NotFound(), {MOUNT_PATH: fake.api_app})
    return {f"{API_HOST}/": WSGIAdapter(api)}
