"""Ending a login, the same for every way in: the user logged in, or the failure told.

A way in turns what WeChat sent into a token and a :class:`WeChatIdentity`;
:func:`finish` does the rest (snapshot refusal, the user handler, the token
stored, ``login_user``, the session renewed, ``wechat_authorized``), and
:func:`fail` ends any failure the same way (``wechat_login_failed``, the
log, a flash, the error view or page).
"""

from __future__ import annotations

import logging
import typing as t

from flask import current_app, flash, jsonify, redirect, session, url_for
from flask_login import login_user
from werkzeug.routing import BuildError
from werkzeug.wrappers import Response

from .errors import ConfigurationError, LoginRefusedError, SnapshotUserError, WeChatError
from .identity import WeChatIdentity
from .pages import configuration_error_page, has_session, page
from .signals import wechat_authorized, wechat_login_failed

if t.TYPE_CHECKING:
    from .state import WeChatWebState

logger = logging.getLogger("flask_wechat_web.views")  # the name docs/errors.rst gives


def finish(state: WeChatWebState, token: dict[str, t.Any], identity: WeChatIdentity) -> t.Any:
    """Log in the user for ``identity``, keep ``token``; the user.

    :raises SnapshotUserError: a snapshot page's virtual identity.
    :raises LoginRefusedError: the user handler refused, or the user is inactive.
    """
    if identity.is_snapshot_user:
        raise SnapshotUserError()
    extension = state.extension
    user = extension.user_for(identity)
    if user is None or not user.is_active:  # what login_user would refuse
        raise LoginRefusedError()
    extension.storage.set(token, user)  # first: a storage that refuses the user logs nobody in
    login_user(user, remember=current_app.config["WECHAT_WEB_REMEMBER"])
    _renew_session()
    wechat_authorized.send(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        identity=identity,
        token=token,
        user=user,
    )
    return user


def _renew_session() -> None:
    """Give the browser a new session id, where the session interface can.

    Server-side sessions (Flask-Session's ``regenerate``) then make an id
    known before the login worthless after it. The session's contents, other
    tabs' pending logins among them, move to the new id. Flask's own cookie
    session has no id to renew.
    """
    regenerate = getattr(current_app.session_interface, "regenerate", None)
    if callable(regenerate):
        regenerate(session._get_current_object())  # type: ignore[attr-defined]


def _told(error: WeChatError) -> None:
    """What every failed login does first: ``wechat_login_failed``, and the log.

    A :class:`ConfigurationError` is logged where it is answered, as an error.
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    wechat_login_failed.send(app, error=error)
    if not isinstance(error, ConfigurationError):
        logger.warning("WeChat login failed: %s: %s", type(error).__name__, error.message)


def fail_json(error: WeChatError) -> Response:
    """End a failed login of an app or a script: signal, log, then :func:`json_error`."""
    _told(error)
    if isinstance(error, ConfigurationError):
        return setup_json(error)
    return json_error(error)


def setup_json(error: ConfigurationError) -> Response:
    """The site's own bug, for a JSON client: logged as an error, a 500 naming its class."""
    logger.error("Flask-WeChat-Web is not set up correctly: %s", error.message)
    return json_error(error)


def json_error(error: WeChatError, status: int | None = None) -> Response:
    """The JSON answer of a failure: the error's class and what the person reads.

    ``{"error": <class name>, "message": <its user message, in the request's
    language>}``, with the error's status; never its ``message``, which is
    for the site's owner.
    """
    response = jsonify(error=type(error).__name__, message=str(error.user_message))
    response.status_code = status or error.status
    response.headers["Cache-Control"] = "no-store"
    return response


def fail(error: WeChatError) -> Response:
    """End a failed login: signal, log, flash, then the error view or page."""
    _told(error)
    if isinstance(error, ConfigurationError):
        return configuration_error_page(error)
    if has_session():
        flash(str(error.user_message), "error")
    error_view = current_app.config["WECHAT_WEB_ERROR_VIEW"]
    if error_view:
        try:
            return redirect(url_for(error_view))
        except BuildError:
            # Never its value: it may be a secret pasted into the wrong key.
            logger.error("WECHAT_WEB_ERROR_VIEW is not an endpoint of this app")
    status = error.status if error.status in (400, 403, 429, 502, 503) else 502
    return page("wechat/error.html", status, error=error, status=status)
