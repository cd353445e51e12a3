"""The sandbox's stand-in for a phone's camera: scan the site's QR code as a sample user.

The follow sign-in's page shows a QR code of the Official Account; here a
sample user (following or not) scans the newest one the fake made, the fake
pushes the ``subscribe`` or ``SCAN`` to the site, and the page shows the
account's reply as a chat would, its link to the confirmation page
clickable. The sandbox serves it (``sandbox.py``): it knows the site's push
URL. Only a POST scans, never a visit.
"""

from __future__ import annotations

import re
import typing as t

from markupsafe import Markup, escape
from werkzeug.wrappers import Request, Response

from .model import FakeApp
from .pages import _initials, _Pages

if t.TYPE_CHECKING:
    from .fake import FakeWeChat

#: Where the sandbox serves the page, under its mount path.
SCAN_PATH = "/scan"
_LINK = re.compile(r"https?://[^\s<>\"']+")


def _linked(text: str) -> Markup:
    """The reply as the chat shows it: its text escaped, its links clickable."""
    out, last = Markup(), 0
    for found in _LINK.finditer(text):
        out += escape(text[last : found.start()])
        out += Markup('<a href="%s">%s</a>') % (found.group(0), found.group(0))
        last = found.end()
    return out + escape(text[last:])


def scan_page(
    fake: FakeWeChat, request: Request, locale: str, account: FakeApp, push_url: str
) -> Response:
    """The page; on a button's POST, the scan and the account's reply."""
    if request.method not in ("GET", "HEAD", "POST"):
        return Response(status=405, headers={"Allow": "GET, HEAD, POST"})
    page = _Pages(locale)
    users = {user.key: user for user in fake.users}
    codes = [code for code in fake.qrcodes.values() if code.appid == account.appid]
    context: dict[str, object] = {
        "action": request.script_root + SCAN_PATH,
        "users": [(u, _initials(u.nickname), fake.follows(u, account)) for u in users.values()],
        "has_code": bool(codes),
        "compact": False,
    }
    if request.method != "POST":
        return page("sandbox_scan.html", **context)
    user = users.get(request.form.get("user", ""))
    if user is None or not codes:
        response = page("sandbox_scan.html", problem=True, **context)
        response.status_code = 400
        return response
    delivery = fake.scan(codes[-1].url, push_url, user)
    reply = None if delivery is None else delivery.reply
    context.update(
        scanned=user,
        expired=delivery is None,
        reply=_linked(reply) if reply else None,
        users=[(u, _initials(u.nickname), fake.follows(u, account)) for u in users.values()],
    )
    return page("sandbox_scan.html", **context)
