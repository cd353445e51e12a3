"""WeChat's side of the Official Account's push: signed, encrypted XML POSTed to a site.

:class:`Pusher` is part of :class:`~flask_wechat_web.testing.FakeWeChat`. It
builds each push as WeChat does (the query of ``signature``, ``timestamp``,
``nonce``, ``openid`` and, encrypted, ``encrypt_type`` and
``msg_signature``; the XML in CDATA; the safe mode's ``Encrypt`` alone, the
compatible mode's plaintext fields beside it) and sends it over real HTTP,
again when the site takes longer than WeChat's 5 s: 3 deliveries in all.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
import time
import typing as t
from dataclasses import asdict, dataclass, replace
from urllib.parse import urlencode, urlsplit
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
import requests
from defusedxml import DefusedXmlException
from werkzeug.wrappers import Request, Response

from ..pushcrypto import PushCryptoError, decrypt, encrypt, signature, signature_ok

if t.TYPE_CHECKING:
    from .model import FakeUser

MODES = ("safe", "compatible", "plaintext")
#: The sample Official Account's console settings (服务器配置): Token and EncodingAESKey.
PUSH_TOKEN = "fakewechatpushtoken"
PUSH_AES_KEY = "FakeWeChatEncodingAESKey0123456789abcdefghi"
#: The sample Official Account's original ID, ``ToUserName`` in its pushes.
ORIGINAL_ID = "gh_fa4ec0ffee01"
#: WeChat's deadline for an answer, and how many times it delivers a push.
DEADLINE = 5.0
DELIVERIES = 3
#: A sign-in code as the site's reply shows it.
_LOGIN_CODE = re.compile(r"(?<![0-9])[0-9]{4} [0-9]{4}(?![0-9])")


@dataclass(frozen=True)
class Delivery:
    """What WeChat got for a push: the last answer (``None``: every delivery timed out).

    ``reply`` is the text of the site's passive reply, as the person would
    read it in the chat: decrypted, its ``MsgSignature`` checked; ``None``
    for ``success``, an empty answer, or a reply WeChat would not show.
    ``taken`` says whether WeChat took the answer: a 200 with ``success``,
    nothing, or a reply it can show (else it tells the person "该公众号暂时无法提供服务").
    """

    status: int | None
    text: str
    deliveries: int
    reply: str | None = None
    #: Seconds the last delivery took, from sending the POST to its answer.
    seconds: float = 0.0

    @property
    def taken(self) -> bool:
        return self.status == 200 and (self.text in ("", "success") or self.reply is not None)

    @property
    def login_code(self) -> str | None:
        """The sign-in code in the reply (``1234 5678``), as the person copies it; else ``None``."""
        found = _LOGIN_CODE.search(self.reply or "")
        return found.group(0) if found else None


def _xml(fields: t.Mapping[str, str | int]) -> bytes:
    parts = (
        f"<{tag}>{value}</{tag}>"
        if isinstance(value, int)
        else f"<{tag}><![CDATA[{value}]]></{tag}>"
        for tag, value in fields.items()
    )
    return ("<xml>" + "".join(parts) + "</xml>").encode()


class Pusher:
    """The fake's push to a site: events, text messages and the URL check."""

    #: What pushes are sent with; ``None``: plain ``requests`` over the network.
    #: The sandbox mounts the site itself here, in-process.
    push_session: requests.Session | None = None

    if t.TYPE_CHECKING:
        mp_app: t.Any
        user: FakeUser

        def openid(self, user: FakeUser, appid: str) -> str: ...

        def _user_named(self, key: str | None) -> FakeUser | None: ...

    def push_config(self, mode: str = "safe") -> dict[str, t.Any]:
        """The site's ``WECHAT_WEB_MP_*`` keys matching the sample account's console."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        config: dict[str, t.Any] = {"WECHAT_WEB_MP_TOKEN": PUSH_TOKEN}
        if mode != "plaintext":
            config["WECHAT_WEB_MP_AES_KEY"] = PUSH_AES_KEY
        return config

    def event(
        self, name: str, *, scene: str | None = None, user: FakeUser | None = None
    ) -> dict[str, str | int]:
        """An event as WeChat words it: ``subscribe`` (``qrscene_`` + scene), ``SCAN``, …."""
        key = "" if scene is None else ("qrscene_" + scene if name == "subscribe" else scene)
        fields: dict[str, str | int] = {
            **self._header(user, "event"),
            "Event": name,
            "EventKey": key,
        }
        if scene is not None:
            fields["Ticket"] = "gQ" + secrets.token_urlsafe(40)
        return fields

    def text(self, content: str, *, user: FakeUser | None = None) -> dict[str, str | int]:
        """A text message the person sends the account."""
        msg_id = secrets.randbelow(10**19 - 10**18) + 10**18
        return {**self._header(user, "text"), "Content": content, "MsgId": msg_id}

    def _header(self, user: FakeUser | None, msg_type: str) -> dict[str, str | int]:
        return {
            "ToUserName": ORIGINAL_ID,
            "FromUserName": self.openid(user or self.user, self.mp_app.appid),
            "CreateTime": int(time.time()),
            "MsgType": msg_type,
        }

    def push(
        self,
        url: str,
        message: t.Mapping[str, str | int],
        *,
        mode: str = "safe",
        token: str = PUSH_TOKEN,
        aes_key: str = PUSH_AES_KEY,
        timestamp: int | None = None,
        deadline: float = DEADLINE,
    ) -> Delivery:
        """POST ``message`` to the site's push ``url`` as WeChat does, with its retries."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, not {mode!r}")
        stamp, nonce = str(timestamp or int(time.time())), str(secrets.randbelow(10**10))
        query = {
            "signature": signature(token, stamp, nonce),
            "timestamp": stamp,
            "nonce": nonce,
            "openid": str(message.get("FromUserName", "")),
        }
        body = _xml(message)
        if mode != "plaintext":
            encrypted = encrypt(aes_key, body, self.mp_app.appid)
            outer = dict(message) if mode == "compatible" else {"ToUserName": ORIGINAL_ID}
            body = _xml({**outer, "Encrypt": encrypted})
            query["encrypt_type"] = "aes"
            query["msg_signature"] = signature(token, stamp, nonce, encrypted)
        joined = f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"
        delivery = self.deliver(joined, body, deadline=deadline)
        reply = _reply_text(
            delivery, token, aes_key if mode != "plaintext" else None, self.mp_app.appid
        )
        return replace(delivery, reply=reply)

    def deliver(self, url: str, body: bytes, *, deadline: float = DEADLINE) -> Delivery:
        """POST ``body`` to ``url`` (query and all) up to 3 times, while it takes too long."""
        headers = {"Content-Type": "text/xml", "User-Agent": "Mozilla/4.0"}
        sender = self.push_session or requests
        for delivery in range(1, DELIVERIES + 1):
            began = time.perf_counter()
            try:
                answer = sender.post(url, data=body, headers=headers, timeout=deadline)
            except requests.Timeout:
                continue
            seconds = time.perf_counter() - began
            return Delivery(answer.status_code, answer.text, delivery, seconds=seconds)
        return Delivery(None, "", DELIVERIES)

    def verify_push_url(
        self, url: str, *, token: str = PUSH_TOKEN, echostr: str | None = None
    ) -> requests.Response:
        """WeChat's check of the URL on submitting 服务器配置: a GET that wants ``echostr`` back."""
        stamp, nonce = str(int(time.time())), str(secrets.randbelow(10**10))
        query = {
            "signature": signature(token, stamp, nonce),
            "echostr": echostr or str(secrets.randbelow(10**19)),
            "timestamp": stamp,
            "nonce": nonce,
        }
        return requests.get(url, params=query, timeout=DEADLINE)

    def _push_request(self, request: Request) -> Response:
        """``POST /_fake/push``: a push to a site on loopback, for a fake in another process.

        The form's ``url`` (the site's push URL), ``message`` (``subscribe``,
        ``SCAN``, ``unsubscribe`` or ``text``), ``scene``, ``content``,
        ``user`` and ``mode``; the answer is the :class:`Delivery` as JSON.
        """
        form = request.form
        url, kind = form.get("url", ""), form.get("message", "")
        user = self.user if form.get("user") is None else self._user_named(form.get("user"))
        mode = form.get("mode", "safe")
        if not loopback(url) or user is None or mode not in MODES:
            text = "url must be a loopback http URL; user and mode well-formed"
            return Response(text, 400, content_type="text/plain")
        if kind == "text":
            message = self.text(form.get("content", ""), user=user)
        elif kind in ("subscribe", "SCAN", "unsubscribe"):
            message = self.event(kind, scene=form.get("scene"), user=user)
        else:
            return Response("unknown message", 400, content_type="text/plain")
        delivery = self.push(url, message, mode=mode)
        return Response(json.dumps(asdict(delivery)), content_type="application/json")


def loopback(url: str) -> bool:
    """Whether ``url`` is an http(s) URL on loopback: the fake pushes nowhere else."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return parts.scheme in ("http", "https") and (
            host == "localhost" or ipaddress.ip_address(host).is_loopback
        )
    except ValueError:
        return False


def _xml_root(text: bytes) -> Element | None:
    try:
        root = safe_xml.fromstring(text, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        return None
    return root if root.tag == "xml" else None


def _reply_text(delivery: Delivery, token: str, aes_key: str | None, appid: str) -> str | None:
    """The text of the site's passive reply, as WeChat would show it; else ``None``."""
    if delivery.status != 200 or delivery.text in ("", "success"):
        return None
    root = _xml_root(delivery.text.encode())
    if root is None:
        return None
    sealed = root.findtext("Encrypt")
    if sealed is not None:
        stamp, nonce = root.findtext("TimeStamp") or "", root.findtext("Nonce") or ""
        given = root.findtext("MsgSignature") or ""
        if aes_key is None or not signature_ok(given, token, stamp, nonce, sealed):
            return None
        try:
            root = _xml_root(decrypt(aes_key, sealed, appid))
        except PushCryptoError:
            return None
        if root is None:
            return None
    if root.findtext("MsgType") != "text":
        return None
    return root.findtext("Content")
