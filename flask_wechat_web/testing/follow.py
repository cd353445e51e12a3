"""The fake Official Account's parametric QR codes, and a phone that scans them.

:class:`QRCodes` is a base of :class:`~flask_wechat_web.testing.FakeWeChat`.
``cgi-bin/qrcode/create`` keeps WeChat's rules (protocol §2, §11): the
server access token, 48001 for an account that is not a verified service
account, the ``scene`` wrapper (without it the scene is ``0``, WeChat's
silent failure), ``scene_str`` of 1 to 64 characters (40053 over that for a
permanent code), a default life of 60 s when ``expire_seconds`` is left out,
at most 2592000 s, tickets that decode to the URL, the time and the life.
``showqrcode`` (on WeChat's other host) answers a JPEG for a ticket it
issued. :meth:`QRCodes.scan` is the phone: a ``subscribe`` with
``qrscene_`` for someone who does not follow yet (who then does), a bare
``SCAN`` for a follower, each with the code's ``Ticket``, pushed to the site;
``POST /_fake/scan`` does the same for a fake in another process.
"""

from __future__ import annotations

import base64
import json
import secrets
import struct
import typing as t
from dataclasses import asdict, dataclass
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response

from .account import cgi_body
from .api import Body, error
from .model import ALNUM, FakeApp
from .push import MODES, loopback

if t.TYPE_CHECKING:
    from .model import FakeUser
    from .push import Delivery

#: The endpoints this module answers, as the fake's URL map names them.
QRCODE_ENDPOINTS = frozenset({"qrcode_create", "showqrcode"})
DEFAULT_EXPIRY = 60
MAX_EXPIRY = 2592000
_TEMPORARY = ("QR_SCENE", "QR_STR_SCENE")
_PERMANENT = ("QR_LIMIT_SCENE", "QR_LIMIT_STR_SCENE")
#: A small JPEG (CPython's test image), as showqrcode answers one.
JPEG = base64.b64decode(
    "/9j/4AAQSkZJRgABAQEAAQABAAD/2wBDAAMCAgICAgMCAgIDAwMDBAYEBAQEBAgGBgUGCQgKCgkICQkKDA8MCgsO"
    "CwkJDRENDg8QEBEQCgwSExIQEw8QEBD/2wBDAQMDAwQDBAgEBAgQCwkLEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ"
    "EBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBD/wAARCAAQABADASIAAhEBAxEB/8QAFgABAQEAAAAAAAAAAAAAAAAA"
    "BwQF/8QAJBAAAQQBBAICAwAAAAAAAAAAAQIDBAYFBwgSExEiABQJMTL/xAAVAQEBAAAAAAAAAAAAAAAAAAAABv/E"
    "ACMRAAECBQMFAAAAAAAAAAAAAAECEQMEBQYhABIxFRZhgeH/2gAMAwEAAhEDEQA/ABSm0mobc8HmExLUlRzzEWPk"
    "JWW+ulrsaUVAseUgslSlH9LKuPryIKuWPZdskzXmm3fX5m2nF4GlVxx/HOpx4ks51+MiU/Iaad7UcUo4tILoS4kq"
    "cWkezS0hO/HvuRp0rO6hWnWO1UisZVuFi4GFeyEpmGepa5S5SWVPuciFKRFLgSrwetnyPIB+Vb4N9mKhQMzo5po9"
    "XLdDs9d6ZVix2VEhiL9kuNPxw2gEKcDQ/rs8AuA8VAe0vdl7VOYn+27flGAUgmITjbhSmCg3BYlyeWDkMolvw4KO"
    "p1KM6iCNvngZHwetf//Z"
)


@dataclass(frozen=True)
class QRCode:
    """One QR code the fake made: its account, scene, and when it dies (``None``: never)."""

    appid: str
    scene: str
    url: str
    expires_at: float | None


def ticket_for(url: str, created: int, lifetime: int) -> str:
    """A ticket as WeChat's decode (§2.2): base64 of the URL, the time and the life."""
    raw = url.encode()
    record = (
        b"\x81\x01"
        + secrets.token_bytes(4)
        + bytes(7)
        + b"\x01"
        + bytes([len(raw)])
        + raw
        + b"\x00\x02\x04"
        + struct.pack("<I", created & 0xFFFFFFFF)
        + b"\x03\x04"
        + struct.pack("<I", lifetime)
    )
    return base64.b64encode(record).decode()


class QRCodes:
    """``qrcode/create``, ``showqrcode`` and the phone's :meth:`scan`."""

    if t.TYPE_CHECKING:
        import threading

        _lock: threading.Lock
        _apps: dict[str, FakeApp]
        mp_app: FakeApp
        user: FakeUser

        def _now(self) -> float: ...
        def _server_token_appid(self, access_token: str) -> str | None: ...
        def _account_app_or_error(self, params: t.Mapping[str, str]) -> FakeApp | Body: ...
        def follows(self, user: FakeUser | None = None, app: FakeApp | None = None) -> bool: ...
        def follow(self, user: FakeUser | None = None, app: FakeApp | None = None) -> None: ...
        def event(
            self, name: str, *, scene: str | None = None, user: FakeUser | None = None
        ) -> dict[str, str | int]: ...
        def push(self, url: str, message: t.Mapping[str, str | int], **kw: t.Any) -> Delivery: ...
        def _user_named(self, key: str | None) -> FakeUser | None: ...

    def _reset_qrcodes(self) -> None:
        """Called by ``reset`` with the lock held."""
        #: Every ticket issued, and what it stands for.
        self.qrcodes: dict[str, QRCode] = {}

    def _qrcode_answer(self, endpoint: str, request: Request) -> Response:
        if endpoint == "showqrcode":
            return self._showqrcode(request)
        if request.method != "POST":
            return cgi_body(error(43002))
        try:
            body = json.loads(request.get_data())
        except ValueError:
            body = None
        with self._lock:
            return cgi_body(self._create(request.args, body))

    def _create(self, params: t.Mapping[str, str], body: t.Any) -> Body:
        app = self._account_app_or_error(params)
        if not isinstance(app, FakeApp):
            return app
        if not isinstance(body, dict):
            return error(44002)
        action = body.get("action_name")
        if action not in (*_TEMPORARY, *_PERMANENT):
            return error(40052)
        info = body.get("action_info")
        if not isinstance(info, dict):
            return error(40053)
        # Without the "scene" wrapper WeChat still answers a ticket, for scene 0.
        wrapped = info.get("scene")
        scene: t.Any = 0
        if isinstance(wrapped, dict):
            scene = wrapped.get("scene_str" if action.endswith("STR_SCENE") else "scene_id", 0)
        if action.endswith("STR_SCENE") and scene != 0:
            if not isinstance(scene, str) or not scene:
                return error(40053)
            if len(scene) > 64 and action in _PERMANENT:
                return error(40053)
        lifetime = None
        if action in _TEMPORARY:
            lifetime = body.get("expire_seconds", DEFAULT_EXPIRY)
            if not isinstance(lifetime, int) or isinstance(lifetime, bool) or lifetime <= 0:
                return error(40009)
            lifetime = min(lifetime, MAX_EXPIRY)
        url = "http://weixin.qq.com/q/" + "".join(secrets.choice(ALNUM) for _ in range(22))
        now = self._now()
        ticket = ticket_for(url, int(now), lifetime or 0)
        expires_at = None if lifetime is None else now + lifetime
        self.qrcodes[ticket] = QRCode(app.appid, str(scene), url, expires_at)
        answer: Body = {"ticket": ticket, "url": url}
        if lifetime is not None:
            answer["expire_seconds"] = lifetime
        return answer

    def _showqrcode(self, request: Request) -> Response:
        ticket = request.args.get("ticket", "")
        with self._lock:
            known = ticket in self.qrcodes or unquote(ticket) in self.qrcodes
        if not known:
            return Response("not found", 404, content_type="text/plain")
        return Response(JPEG, content_type="image/jpg", headers={"Cache-Control": "max-age=604800"})

    def qrcode_of(self, ticket_or_url: str) -> tuple[str, QRCode]:
        """The ticket and QR code a ticket or a QR code's ``url`` names; ``KeyError`` if none."""
        with self._lock:
            if ticket_or_url in self.qrcodes:
                return ticket_or_url, self.qrcodes[ticket_or_url]
            for ticket, code in self.qrcodes.items():
                if code.url == ticket_or_url:
                    return ticket, code
        raise KeyError("no QR code has this ticket or url")

    def scan(
        self,
        ticket_or_url: str,
        push_url: str,
        user: FakeUser | None = None,
        *,
        mode: str = "safe",
    ) -> Delivery | None:
        """``user`` scans the QR code, as their phone would: the push to the site, or
        ``None`` when the code has expired (WeChat then says so and pushes nothing).

        Someone who does not follow the account follows it (``subscribe``,
        ``qrscene_`` and the scene); a follower's scan is a ``SCAN``.
        """
        user = user or self.user
        ticket, code = self.qrcode_of(ticket_or_url)
        if code.expires_at is not None and self._now() >= code.expires_at:
            return None
        app = self._apps[code.appid]
        name = "SCAN" if self.follows(user, app) else "subscribe"
        if name == "subscribe":
            self.follow(user, app)
        message = {**self.event(name, scene=code.scene, user=user), "Ticket": ticket}
        return self.push(push_url, message, mode=mode)

    def _scan_request(self, request: Request) -> Response:
        """``POST /_fake/scan``: :meth:`scan` for a fake in another process.

        The form's ``qr`` (the QR code's ticket or ``url``; left out, the
        newest the fake made, as the sandbox scans), ``url`` (the site's push
        URL, on loopback), ``user`` and ``mode``; the answer is the
        :class:`~.push.Delivery` as JSON, or 410 ``{"expired": true}``.
        """
        form = request.form
        url, mode = form.get("url", ""), form.get("mode", "safe")
        user = self.user if form.get("user") is None else self._user_named(form.get("user"))
        if not loopback(url) or user is None or mode not in MODES:
            text = "url must be a loopback http URL; user and mode well-formed"
            return Response(text, 400, content_type="text/plain")
        qr = form.get("qr")
        if qr is None:
            with self._lock:
                qr = next(reversed(self.qrcodes), "")
        try:
            delivery = self.scan(qr, url, user, mode=mode)
        except KeyError:
            return Response("no QR code has this ticket or url", 404, content_type="text/plain")
        if delivery is None:
            return Response(json.dumps({"expired": True}), 410, content_type="application/json")
        return Response(json.dumps(asdict(delivery)), content_type="application/json")
