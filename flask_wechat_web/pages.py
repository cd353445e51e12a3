"""The extension's pages and their headers, and where a login may send the browser back.

Shared by the blueprint's views and every way in: a page in the site's
language (and layout), the private headers that keep codes out of caches,
Referer headers and frames, and the check that keeps ``next`` on this site.
"""

from __future__ import annotations

import logging
import re
import typing as t
from urllib.parse import unquote, urlsplit

from flask import current_app, render_template, request, session
from flask.sansio.app import App
from flask.sessions import NullSession
from jinja2 import PackageLoader, TemplateNotFound
from werkzeug.wrappers import Response

from . import i18n
from .errors import ConfigurationError

logger = logging.getLogger("flask_wechat_web.views")  # the name docs/errors.rst gives

#: The longest ``next`` kept; longer ones fall back to the site's root.
MAX_NEXT_LENGTH = 1024

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def safe_next(value: str | None) -> str | None:
    """``value`` if it is a path on this site, else ``None``.

    Only ``/`` alone or ``/`` followed by something other than ``/`` or ``\\``,
    in printable ASCII, with no backslash and no ``"`` (a URL carries it as
    ``%22``; raw, it costs four bytes in the session cookie), no more than
    :data:`MAX_NEXT_LENGTH` characters, and the same still true once
    percent-decoded (``%2F%2Fevil.com``, ``/%09/evil.com``).
    """
    if not value or len(value) > MAX_NEXT_LENGTH:
        return None
    if any(not "!" <= ch <= "~" or ch == '"' for ch in value):
        return None
    for candidate in (value, unquote(value)):
        if (
            not candidate.startswith("/")
            or candidate.startswith("//")
            or "\\" in candidate
            or _CONTROL.search(candidate)
        ):
            return None
    return value


def site_root() -> str:
    """The site's root path, where a login goes when it has no usable ``next``."""
    return f"{request.script_root}/"


def site_name(config: t.Mapping[str, t.Any]) -> str:
    """The site as the Official Account's replies and pages name it.

    ``WECHAT_WEB_SITE_NAME``, else the host (without its port) this request came to.
    """
    configured = config.get("WECHAT_WEB_SITE_NAME")
    return str(configured or urlsplit(request.host_url).hostname or request.host)


def page(template: str, code: int = 200, **context: t.Any) -> Response:
    """One of the extension's HTML pages."""
    return Response(render_template(template, **context), status=code, mimetype="text/html")


def has_session() -> bool:
    """Whether Flask has a working session (not without ``SECRET_KEY``, say)."""
    return not isinstance(session, NullSession)


def page_context() -> dict[str, str]:
    """``<html lang>`` of the extension's pages; named apart from a site's own ``html_lang``."""
    return {"wechat_html_lang": i18n.HTML_LANG[i18n.current_locale()]}


def private_headers(response: Response) -> Response:
    """Keep codes out of caches and Referer headers, and our pages out of frames."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", "frame-ancestors 'none'")
    return response


_SLASHES = re.compile(r"/{2,}")


def private_routing_answers(response: Response) -> Response:
    """App-wide: keep codes private in the answers routing gives before any view.

    Werkzeug answers a path with merged slashes (``/wechat//relay?code=``)
    with a 308 whose ``Location`` and body repeat the code, and a method or
    path it cannot route with a 405 or 404, all before the blueprint's own
    hooks could run. Those answers under the blueprint, or to any request
    whose query carries a ``code``, get the blueprint's private headers. Every
    request the site routes costs one attribute check.
    """
    if request.routing_exception is not None and ("code" in request.args or _under_blueprint()):
        private_headers(response)
    return response


def _under_blueprint() -> bool:
    """Whether the request's path, slashes merged, is under where ``wechat.login`` is."""
    path = _SLASHES.sub("/", request.path)
    for rule in current_app.url_map.iter_rules():
        if rule.endpoint == "wechat.login":
            prefix = rule.rule.removesuffix("/login")
            if path == prefix or path.startswith(f"{prefix}/"):
                return True
    return False


def configuration_error_page(error: ConfigurationError) -> Response:
    """The site's own bug: logged as an error, a 500 page for the site owner.

    Registered by ``init_app`` as the app's handler of
    :class:`ConfigurationError`, wherever it is raised.
    """
    logger.error("Flask-WeChat-Web is not set up correctly: %s", error.message)
    # Raised in any view: the blueprint's context processor may not have run.
    context = {"error": error, **page_context()}
    try:
        html = render_template("wechat/setup_error.html", **context)
    except TemplateNotFound:  # our blueprint, with its templates, is not registered
        env = current_app.jinja_env.overlay(loader=PackageLoader(__package__))
        html = env.get_template("wechat/setup_error.html").render(context)
    response = Response(html, status=500, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


#: Where an app keeps the views Flask-WTF's ``CSRFProtect`` must let through.
_CSRF_EXEMPT = "wechat_web.csrf_exempt"


def exempt_from_csrf(app: App, endpoint: str, view: t.Callable[..., t.Any]) -> None:
    """Let Flask-WTF's ``CSRFProtect`` pass ``view``: WeChat or an app posts it, never a form.

    The signed push and the JSON logins carry no form token, and a form on
    another site cannot post them. ``CSRFProtect.exempt`` needs the site's
    ``CSRFProtect``, which may be made after ``WeChatWeb``: so it is called
    at the request, from one app-wide hook that runs before CSRFProtect's own
    and, on any other route, compares the endpoint and nothing more.
    """
    exempt = app.extensions.get(_CSRF_EXEMPT)
    if exempt is None:
        exempt = app.extensions[_CSRF_EXEMPT] = {}
        app.before_request_funcs.setdefault(None, []).insert(0, csrf_exemptions)
    exempt[endpoint] = view


def csrf_exemptions() -> None:
    """App-wide, first: exempt this request's view from ``CSRFProtect`` if it is one of ours."""
    view = current_app.extensions[_CSRF_EXEMPT].get(request.endpoint)
    if view is not None:
        _exempt(view)


def _exempt(view: t.Callable[..., t.Any]) -> None:
    csrf = current_app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(view)
