"""``/mp/push``: the Official Account's message push (服务器配置), checked before it is read.

WeChat calls it with a GET to verify the URL and a POST for each event or
message. The URL's ``signature`` is checked first, and must be fresh; in safe
mode the body's ``msg_signature`` too, then the AppID inside the cipher. Only
then is the message parsed (defusedxml: no DTD, no entity), deduplicated in
``WECHAT_WEB_STORE`` (WeChat retries up to 3 times, and a captured push may be
replayed), offered to each way in (:meth:`Flow.on_push`: a scan, a message
asking for a code) and sent as :data:`~flask_wechat_web.signals.wechat_mp_event`.
The answer comes at once, as nothing here calls WeChat: the way in's reply
to the person (a passive reply, encrypted as the push was), else ``success``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import time
import typing as t
from dataclasses import dataclass
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml
from defusedxml import DefusedXmlException
from flask import current_app, request
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from .errors import StorageUnavailableError
from .locks import add_once
from .pages import exempt_from_csrf
from .pushcrypto import PushCryptoError, decrypt, encrypt, signature, signature_ok
from .signals import wechat_mp_event
from .state import get_state

if t.TYPE_CHECKING:
    from .state import WeChatWebState

logger = logging.getLogger(__name__)

#: The largest body read; WeChat's pushes are a few KiB.
MAX_BODY = 64 * 1024
#: How far a push's ``timestamp`` may be from the site's clock, in seconds.
MAX_AGE = 300
#: How long a push is remembered, to drop WeChat's retries and replays.
#: Longer than :data:`MAX_AGE`: an older push is refused as stale anyway.
SEEN_TTL = 2 * MAX_AGE
_SEEN_PREFIX = "wechat_web:mp_push:"
#: ``echostr`` is not signed: echo only what WeChat sends (digits), never markup.
_ECHOSTR = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True)
class MpPush:
    """One event or message the Official Account pushed, verified and parsed.

    ``fields`` holds every child element of the XML by tag (``FromUserName``,
    ``CreateTime``, ``MsgType``, ``Event``, ``EventKey``, ``Ticket``,
    ``Content``, ``MsgId``, …), as text.
    """

    fields: t.Mapping[str, str]

    @property
    def openid(self) -> str:
        """The sender's openid: ``FromUserName`` of the verified body, never the URL's."""
        return self.fields.get("FromUserName", "")

    @property
    def msg_type(self) -> str:
        """``event``, ``text``, …, lower-case."""
        return self.fields.get("MsgType", "").lower()

    @property
    def event(self) -> str:
        """``subscribe``, ``scan``, ``unsubscribe``, …, lower-case (WeChat sends ``SCAN``)."""
        return self.fields.get("Event", "").lower()

    @property
    def scene(self) -> str | None:
        """The QR's scene: ``EventKey`` of a ``SCAN``, or of a ``subscribe`` less ``qrscene_``.

        ``None`` for anything else, a follow without a QR included.
        """
        key = self.fields.get("EventKey", "")
        if self.event == "scan" and key:
            return key
        if self.event == "subscribe" and key.startswith("qrscene_"):
            return key.removeprefix("qrscene_") or None
        return None

    @property
    def account(self) -> str:
        """``ToUserName``: the Official Account's original ID (``gh_…``)."""
        return self.fields.get("ToUserName", "")

    @property
    def content(self) -> str:
        """A text message's text."""
        return self.fields.get("Content", "")

    def dedupe_key(self) -> str:
        """``MsgId`` for a message; sender, time, event and key for an event (WeChat's advice)."""
        msg_id = self.fields.get("MsgId")
        if msg_id:
            return "msg:" + msg_id
        parts = ("FromUserName", "CreateTime", "Event", "EventKey")
        return "event:" + "\n".join(self.fields.get(part, "") for part in parts)


def register(setup: BlueprintSetupState) -> None:
    """Add ``/mp/push`` where the blueprint is mounted, on an app with a push Token."""
    if setup.app.config.get("WECHAT_WEB_MP_TOKEN"):
        setup.add_url_rule(
            "/mp/push",
            "mp_push",
            mp_push,
            methods=["GET", "POST"],
            provide_automatic_options=False,
        )
        # Flask-WTF's CSRFProtect must pass it: it is signed, and sends no cookie.
        exempt_from_csrf(setup.app, f"{setup.name}.mp_push", mp_push)


def _plain(text: str, status: int = 200) -> Response:
    return Response(text, status=status, mimetype="text/plain")


class _Refused(Exception):
    """Why a push is refused: its status and a fixed reason for the log."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def mp_push() -> Response:
    """WeChat's push: the URL check (GET) or one event or message (POST)."""
    try:
        if request.method == "GET":
            return _plain(_verify_url())
        push = _received()
    except _Refused as refusal:
        logger.warning("WeChat push refused: %s", refusal)
        return _plain("forbidden" if refusal.status == 403 else "refused", refusal.status)
    state = get_state()
    seen = _SEEN_PREFIX + hashlib.sha256(push.dedupe_key().encode()).hexdigest()
    try:
        if not add_once(state, seen, "", SEEN_TTL):
            # A retry or a replay: acted on already. A retry comes because the
            # first answer was late, so WeChat never showed its reply: this one has it.
            with state.store_calls() as store:
                earlier = store.get(seen)
            return _answer(push, earlier if isinstance(earlier, str) and earlier else None)
        reply = _reply_of_ways_in(state, push)
        if reply is not None:
            with state.store_calls() as store:
                store.set(seen, reply, timeout=SEEN_TTL)
    except StorageUnavailableError as error:
        logger.error("WeChat push not taken: %s", error)
        _forget(state, seen)  # so that WeChat's retry is acted on
        return _plain("unavailable", 503)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        wechat_mp_event.send(app, push=push)
    except Exception:
        # WeChat's retry would only repeat it: log it and answer as usual.
        logger.exception("A wechat_mp_event receiver failed")
    return _answer(push, reply)


def _answer(push: MpPush, reply: str | None) -> Response:
    """The passive reply to the person, else ``success``."""
    if reply is None:
        return _plain("success")
    return Response(_reply_xml(push, reply), mimetype="application/xml")


def _reply_of_ways_in(state: WeChatWebState, push: MpPush) -> str | None:
    """What the first way in that takes the push replies to the person, if anything."""
    for flow in state.flows:
        if flow.configured(state.config):
            reply = flow.on_push(state, push)
            if reply is not None:
                return reply
    return None


def _forget(state: WeChatWebState, key: str) -> None:
    try:
        with state.store_calls() as store:
            store.delete(key)
    except StorageUnavailableError:
        pass  # still down: the key expires with SEEN_TTL


def _cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def _reply_xml(push: MpPush, text: str) -> bytes:
    """A passive text reply to the push's sender, encrypted when the push was.

    WeChat documents the encrypted reply for the safe mode; the compatible
    mode takes either.
    """
    now = str(int(time.time()))
    xml = (
        f"<xml><ToUserName>{_cdata(push.openid)}</ToUserName>"
        f"<FromUserName>{_cdata(push.account)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType>{_cdata('text')}</MsgType>"
        f"<Content>{_cdata(text)}</Content></xml>"
    ).encode()
    aes_key = _config("WECHAT_WEB_MP_AES_KEY")
    if not aes_key:
        return xml
    sealed = encrypt(aes_key, xml, _config("WECHAT_WEB_MP_APPID"))
    nonce = str(secrets.randbelow(10**10))
    signed = signature(_config("WECHAT_WEB_MP_TOKEN"), now, nonce, sealed)
    return (
        f"<xml><Encrypt>{_cdata(sealed)}</Encrypt><MsgSignature>{_cdata(signed)}</MsgSignature>"
        f"<TimeStamp>{now}</TimeStamp><Nonce>{_cdata(nonce)}</Nonce></xml>"
    ).encode()


def _config(key: str) -> str:
    return str(current_app.config.get(key) or "")


def _signed() -> None:
    """Refuse a request whose ``signature`` is missing, wrong or stale."""
    args = request.args
    given, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
    if not (given and timestamp and nonce):
        raise _Refused(403, "no signature, timestamp or nonce")
    if not signature_ok(given, _config("WECHAT_WEB_MP_TOKEN"), timestamp, nonce):
        raise _Refused(403, "the signature is wrong")
    if not (timestamp.isdigit() and abs(time.time() - int(timestamp)) <= MAX_AGE):
        raise _Refused(403, "the timestamp is stale")


def _verify_url() -> str:
    """The ``echostr`` of a signed URL check, unchanged (WeChat's echo)."""
    _signed()
    echostr = request.args.get("echostr", "")
    if not _ECHOSTR.fullmatch(echostr):
        raise _Refused(400, "a URL check without a well-formed echostr")
    return echostr


def _parse(body: bytes) -> Element:
    """The XML's root; no DTD, no entity, nothing external."""
    try:
        root = safe_xml.fromstring(body, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError):
        raise _Refused(400, "the body is not plain XML") from None
    if root.tag != "xml":
        raise _Refused(400, "the body is not a push")
    return root


def _received() -> MpPush:
    """The POSTed push, verified (and decrypted) and parsed."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise _Refused(413, "the body is over 64 KiB")
    _signed()
    body = request.stream.read(MAX_BODY + 1)
    if len(body) > MAX_BODY:
        raise _Refused(413, "the body is over 64 KiB")
    root = _parse(body)
    aes_key = _config("WECHAT_WEB_MP_AES_KEY")
    if aes_key:
        root = _parse(_opened(root, aes_key))
    elif request.args.get("encrypt_type", "raw") != "raw":
        raise _Refused(403, "an encrypted push, and no WECHAT_WEB_MP_AES_KEY")
    fields = {child.tag: (child.text or "").strip() for child in root if not len(child)}
    return MpPush(fields)


def _opened(root: Element, aes_key: str) -> bytes:
    """The inner XML of a safe- or compatible-mode push; a plaintext one is refused."""
    encrypted = root.findtext("Encrypt")
    if request.args.get("encrypt_type") != "aes" or not encrypted:
        raise _Refused(403, "a plaintext push, and WECHAT_WEB_MP_AES_KEY is set")
    args = request.args
    token = _config("WECHAT_WEB_MP_TOKEN")
    given = args.get("msg_signature") or ""
    if not signature_ok(given, token, args["timestamp"], args["nonce"], encrypted):
        raise _Refused(403, "the msg_signature is wrong")
    try:
        return decrypt(aes_key, encrypted, _config("WECHAT_WEB_MP_APPID"))
    except PushCryptoError as error:
        raise _Refused(403, str(error)) from None
