"""The sandbox's stand-in for a phone: codes for the mobile app and the mini program.

Someone building a site's backend for an app has no phone in the loop: this
page gives them the code WeChat would hand the mobile app (OpenSDK
``SendAuth``) or the mini program (``wx.login``) for a sample user, and a
``curl`` line that posts it to the site as the app would. The sandbox serves
it (``sandbox.py``): it knows the site's login URLs and language. A code is
minted only by the page's buttons (a POST), never by a visit.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping

from werkzeug.wrappers import Request, Response

from ..i18n import gettext_noop as N_
from .model import CODE_TTL, FakeApp, Model
from .pages import _initials, _Pages

#: Where the sandbox serves the page, under its mount path.
APP_CODES_PATH = "/app-codes"
#: The two kinds of code, with the name of each on the page.
CODE_KINDS = {"app": N_("Mobile app code"), "miniprogram": N_("Mini program code")}


def app_codes_page(
    fake: Model,
    request: Request,
    locale: str,
    apps: Mapping[str, FakeApp],
    login_urls: Mapping[str, str],
) -> Response:
    """The page; on a button's POST, with a new code and its ``curl`` line.

    ``apps`` and ``login_urls`` give, for ``"app"`` and ``"miniprogram"``,
    the site's app in the fake and the URL its code is posted to.
    """
    if request.method not in ("GET", "HEAD", "POST"):
        return Response(status=405, headers={"Allow": "GET, HEAD, POST"})
    page = _Pages(locale)
    users = {user.key: user for user in fake.users}
    context: dict[str, object] = {
        "action": request.script_root + APP_CODES_PATH,
        "users": [(user, _initials(user.nickname)) for user in users.values()],
        "kinds": CODE_KINDS,
        "compact": False,
    }
    if request.method != "POST":
        return page("sandbox_app_codes.html", **context)
    kind = next((k for k in CODE_KINDS if k in request.form), None)
    user = users.get(request.form.get(kind or "", ""))
    if kind is None or user is None:
        response = page("sandbox_app_codes.html", problem=True, **context)
        response.status_code = 400
        return response
    if kind == "app":
        code = fake.app_code(user, apps[kind])
    else:
        code = fake.miniprogram_code(user, apps[kind])
    body = json.dumps({"code": code})
    curl = (
        "curl -i -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)} \\\n  {shlex.quote(login_urls[kind])}"
    )
    minutes = int(CODE_TTL[kind] // 60)
    context.update(kind=kind, code=code, curl=curl, user=user, minutes=minutes)
    return page("sandbox_app_codes.html", **context)
