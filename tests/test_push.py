"""The Official Account's push (``/wechat/mp/push``), as WeChat sends it, and its attacks (A10)."""

from __future__ import annotations

import time
import typing as t

import pytest
import requests
from cachelib import SimpleCache
from flask import Flask, request

from flask_wechat_web import ConfigurationError, WeChatWeb
from flask_wechat_web.push import MpPush
from flask_wechat_web.pushcrypto import decrypt, encrypt, signature
from flask_wechat_web.signals import wechat_mp_event
from flask_wechat_web.testing import FakeWeChat
from flask_wechat_web.testing.push import PUSH_AES_KEY, PUSH_TOKEN

from .conftest import Served, make_app

# The protocol's vectors (wechat-protocol-more.md §3.2, §3.4).
VECTOR_ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHC"
    "rsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpX"
    "aG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQi"
    "MS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQi"
    "pvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)
VECTOR_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
VECTOR_ID = "wx49f0ab532d5d035a"


def test_url_signature_vector() -> None:
    assert signature("AAAAA", "1714037059", "486452656") == (
        "899cf89e464efb63f54ddac96b0a0a235f53aa78"
    )


def test_safe_mode_vector_decrypts_and_encrypts_back() -> None:
    assert signature("123456", "1411525903", "461056294", VECTOR_ENCRYPT) == (
        "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
    )
    xml = decrypt(VECTOR_KEY, VECTOR_ENCRYPT, VECTOR_ID)
    assert len(xml) == 281
    assert b"<FromUserName><![CDATA[messense]]></FromUserName>" in xml
    assert encrypt(VECTOR_KEY, xml, VECTOR_ID, random=b"ec90b1530358d4d3") == VECTOR_ENCRYPT


def push_app(fake: FakeWeChat, mode: str = "safe", **config: t.Any) -> Flask:
    app, _ = make_app(
        fake, **{"WECHAT_WEB_STORE": SimpleCache(), **fake.push_config(mode), **config}
    )
    return app


class Pushes:
    """The pushes the site acted on (``wechat_mp_event``), and a receiver's delay."""

    def __init__(self, app: Flask) -> None:
        self.received: list[MpPush] = []
        self.delay = 0.0
        wechat_mp_event.connect(self.receive, app)

    def receive(self, sender: Flask, push: MpPush) -> None:
        time.sleep(self.delay)
        self.received.append(push)


@pytest.fixture
def site(fake_wechat: FakeWeChat) -> t.Iterator[tuple[Served, Pushes]]:
    app = push_app(fake_wechat)
    served = Served(app)
    yield served, Pushes(app)
    served.stop()


def signed_query(token: str = PUSH_TOKEN, *, timestamp: int | None = None) -> dict[str, str]:
    stamp, nonce = str(timestamp or int(time.time())), "486452656"
    return {"signature": signature(token, stamp, nonce), "timestamp": stamp, "nonce": nonce}


# -- the URL check -------------------------------------------------------------------


def test_url_check_over_http_echoes_echostr(
    fake_wechat: FakeWeChat, site: tuple[Served, Pushes]
) -> None:
    served, _ = site
    answer = fake_wechat.verify_push_url(served.push_url, echostr="13685193124692622629")
    assert (answer.status_code, answer.text) == (200, "13685193124692622629")
    assert answer.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize(
    "query",
    [
        {"echostr": "1"},
        {**signed_query("anothertoken"), "echostr": "1"},
        {**signed_query(timestamp=int(time.time()) - 3600), "echostr": "1"},
        {**signed_query(), "signature": "0" * 40, "echostr": "1"},
    ],
    ids=["unsigned", "wrong token", "stale", "wrong signature"],
)
def test_url_check_without_a_valid_signature_is_403(
    fake_wechat: FakeWeChat, query: dict[str, str]
) -> None:
    client = push_app(fake_wechat).test_client()
    answer = client.get("/wechat/mp/push", query_string=query)
    assert (answer.status_code, answer.text) == (403, "forbidden")


def test_no_push_route_without_a_token(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    assert app.test_client().get("/wechat/mp/push", query_string=signed_query()).status_code == 404


# -- configuration ---------------------------------------------------------------------


def production(fake: FakeWeChat, **config: t.Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"SECRET_KEY": "a test secret key", **fake.config(), **config})
    WeChatWeb(app)
    return app


def test_plaintext_refused_at_init_app_outside_debug(fake_wechat: FakeWeChat) -> None:
    with pytest.raises(ConfigurationError, match="WECHAT_WEB_MP_ALLOW_PLAINTEXT"):
        production(fake_wechat, **fake_wechat.push_config("plaintext"))
    production(
        fake_wechat, **fake_wechat.push_config("plaintext"), WECHAT_WEB_MP_ALLOW_PLAINTEXT=True
    )
    production(fake_wechat, **fake_wechat.push_config("safe"))


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"WECHAT_WEB_MP_TOKEN": PUSH_TOKEN, "WECHAT_WEB_MP_AES_KEY": "short"}, "AES_KEY"),
        ({"WECHAT_WEB_MP_TOKEN": "a token!", "WECHAT_WEB_MP_AES_KEY": PUSH_AES_KEY}, "MP_TOKEN"),
        ({"WECHAT_WEB_MP_AES_KEY": PUSH_AES_KEY}, "without WECHAT_WEB_MP_TOKEN"),
        (
            {
                "WECHAT_WEB_MP_TOKEN": PUSH_TOKEN,
                "WECHAT_WEB_MP_AES_KEY": PUSH_AES_KEY,
                "WECHAT_WEB_MP_APPID": None,
                "WECHAT_WEB_MP_SECRET": None,
            },
            "WECHAT_WEB_MP_APPID",
        ),
    ],
    ids=["aes key", "token", "key without token", "no account"],
)
def test_malformed_push_settings_are_refused(
    fake_wechat: FakeWeChat, config: dict[str, t.Any], key: str
) -> None:
    with pytest.raises(ConfigurationError, match=key) as info:
        production(fake_wechat, **config)
    assert PUSH_AES_KEY not in str(info.value)


# -- events and messages over HTTP -------------------------------------------------------


@pytest.mark.parametrize("mode", ["safe", "compatible"])
def test_follow_scan_and_text_reach_the_site_once_each(
    fake_wechat: FakeWeChat, site: tuple[Served, Pushes], mode: str
) -> None:
    served, pushes = site
    user = fake_wechat.users[1]
    for message in (
        fake_wechat.event("subscribe", scene="wwl_abc", user=user),
        fake_wechat.event("SCAN", scene="wwl_def", user=user),
        fake_wechat.event("subscribe", user=user),
        fake_wechat.text("123456", user=user),
    ):
        answer = fake_wechat.push(served.push_url, message, mode=mode)
        assert (answer.status, answer.text, answer.deliveries) == (200, "success", 1)
    follow, scan, plain_follow, text = pushes.received
    openid = fake_wechat.openid(user, fake_wechat.mp_app.appid)
    assert {push.openid for push in pushes.received} == {openid}
    assert (follow.event, follow.scene) == ("subscribe", "wwl_abc")
    assert (scan.event, scan.scene) == ("scan", "wwl_def")
    assert (plain_follow.event, plain_follow.scene) == ("subscribe", None)
    assert (text.msg_type, text.content, text.scene) == ("text", "123456", None)


def test_a_retry_after_a_slow_answer_is_acted_on_once(
    fake_wechat: FakeWeChat, site: tuple[Served, Pushes]
) -> None:
    served, pushes = site
    pushes.delay = 1.0  # slower than the deadline below: WeChat delivers again
    message = fake_wechat.event("subscribe", scene="wwl_slow")
    answer = fake_wechat.push(served.push_url, message, deadline=0.5)
    assert (answer.status, answer.text, answer.deliveries) == (200, "success", 2)
    time.sleep(1.0)
    assert [push.scene for push in pushes.received] == ["wwl_slow"]


def test_wechat_delivers_three_times_to_a_site_that_never_answers_in_time(
    fake_wechat: FakeWeChat,
) -> None:
    hung = Flask(__name__)
    calls: list[str] = []

    @hung.post("/wechat/mp/push")
    def slow() -> str:
        calls.append(request.path)
        time.sleep(0.5)
        return "success"

    served = Served(hung)
    try:
        answer = fake_wechat.push(served.push_url, fake_wechat.text("1"), deadline=0.2)
    finally:
        served.stop()
    assert (answer.status, answer.deliveries, len(calls)) == (None, 3, 3)


def test_a_replayed_push_is_acted_on_once(
    fake_wechat: FakeWeChat, site: tuple[Served, Pushes]
) -> None:
    served, pushes = site
    message = fake_wechat.text("654321")
    for _ in range(3):
        answer = fake_wechat.push(served.push_url, message)
        assert (answer.status, answer.text) == (200, "success")
    assert [push.content for push in pushes.received] == ["654321"]


def test_a_stale_push_is_403(fake_wechat: FakeWeChat, site: tuple[Served, Pushes]) -> None:
    served, pushes = site
    stale = int(time.time()) - 3600
    answer = fake_wechat.push(served.push_url, fake_wechat.text("1"), timestamp=stale)
    assert (answer.status, answer.text) == (403, "forbidden")
    assert pushes.received == []


# -- attacks, through the test client ---------------------------------------------------

TEXT = (
    b"<xml><ToUserName><![CDATA[gh_fa4ec0ffee01]]></ToUserName>"
    b"<FromUserName><![CDATA[oAbCdE]]></FromUserName><CreateTime>1714037059</CreateTime>"
    b"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[hi]]></Content>"
    b"<MsgId>1234567890123456789</MsgId></xml>"
)
BILLION_LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">'
    b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    b"<xml><Content>&c;</Content><MsgId>1</MsgId></xml>"
)
EXTERNAL_ENTITY = (
    b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><Content>&e;</Content><MsgId>2</MsgId></xml>"
)


def safe_push(
    xml: bytes,
    *,
    appid: str,
    token: str = PUSH_TOKEN,
    msg_token: str = PUSH_TOKEN,
) -> tuple[dict[str, str], bytes]:
    """A safe-mode push of ``xml``: the query and the body, signed with the tokens given."""
    query = signed_query(token)
    encrypted = encrypt(PUSH_AES_KEY, xml, appid)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = signature(msg_token, query["timestamp"], query["nonce"], encrypted)
    body = b"<xml><ToUserName><![CDATA[gh_fa4ec0ffee01]]></ToUserName><Encrypt><![CDATA["
    return query, body + encrypted.encode() + b"]]></Encrypt></xml>"


def post(app: Flask, query: dict[str, str], body: bytes) -> tuple[int, str]:
    answer = app.test_client().post("/wechat/mp/push", query_string=query, data=body)
    return answer.status_code, answer.text


def test_a_safe_push_through_the_test_client(fake_wechat: FakeWeChat) -> None:
    app = push_app(fake_wechat)
    pushes = Pushes(app)
    assert post(app, *safe_push(TEXT, appid=fake_wechat.mp_app.appid)) == (200, "success")
    assert [push.content for push in pushes.received] == ["hi"]


@pytest.mark.parametrize(
    "attack",
    ["plaintext body", "wrong msg_signature", "another account", "unsigned url", "bad base64"],
)
def test_a_forged_push_to_a_safe_mode_site_is_403(fake_wechat: FakeWeChat, attack: str) -> None:
    app = push_app(fake_wechat)
    pushes = Pushes(app)
    appid = fake_wechat.mp_app.appid
    if attack == "plaintext body":
        query, body = signed_query(), TEXT
    elif attack == "wrong msg_signature":
        query, body = safe_push(TEXT, appid=appid, msg_token="anothertoken")
    elif attack == "another account":
        query, body = safe_push(TEXT, appid="wx0123456789abcdef")
    elif attack == "unsigned url":
        query, body = safe_push(TEXT, appid=appid, token="anothertoken")
    else:
        query = {**signed_query(), "encrypt_type": "aes"}
        body = b"<xml><Encrypt>not*base64</Encrypt></xml>"
        query["msg_signature"] = signature(
            PUSH_TOKEN, query["timestamp"], query["nonce"], "not*base64"
        )
    assert post(app, query, body) == (403, "forbidden")
    assert pushes.received == []


def test_an_encrypted_push_to_a_plaintext_site_is_403(fake_wechat: FakeWeChat) -> None:
    app = push_app(fake_wechat, "plaintext")
    pushes = Pushes(app)
    assert post(app, *safe_push(TEXT, appid=fake_wechat.mp_app.appid)) == (403, "forbidden")
    assert post(app, signed_query(), TEXT) == (200, "success")
    assert [push.content for push in pushes.received] == ["hi"]


@pytest.mark.parametrize(
    "body",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, b"not xml at all", b'{"json": 1}', b"<other/>", b""],
    ids=["billion laughs", "external entity", "text", "json", "another root", "empty"],
)
@pytest.mark.parametrize("mode", ["plaintext", "safe"])
def test_xml_with_a_dtd_or_not_xml_is_refused_before_parsing(
    fake_wechat: FakeWeChat, body: bytes, mode: str
) -> None:
    app = push_app(fake_wechat, mode)
    pushes = Pushes(app)
    if mode == "safe" and body:
        query, sent = safe_push(body, appid=fake_wechat.mp_app.appid)
    else:
        query, sent = signed_query(), body
    status, text = post(app, query, sent)
    assert (status, text) == (400, "refused")
    assert pushes.received == []


def test_a_body_over_64_kib_is_413(fake_wechat: FakeWeChat) -> None:
    app = push_app(fake_wechat, "plaintext")
    big = TEXT.replace(b"hi", b"x" * 64 * 1024)
    assert post(app, signed_query(), big) == (413, "refused")


def test_store_down_is_503_and_nothing_is_acted_on(fake_wechat: FakeWeChat) -> None:
    class Down(SimpleCache):
        def add(self, *args: t.Any, **kwargs: t.Any) -> bool:
            raise ConnectionError("redis://:password@10.0.0.1 is down")

    app = push_app(fake_wechat, WECHAT_WEB_STORE=Down())
    pushes = Pushes(app)
    status, text = post(app, *safe_push(TEXT, appid=fake_wechat.mp_app.appid))
    assert (status, text) == (503, "unavailable")
    assert pushes.received == []


def test_a_failing_receiver_still_answers_success(
    fake_wechat: FakeWeChat, caplog: pytest.LogCaptureFixture
) -> None:
    app = push_app(fake_wechat)

    def broken(sender: Flask, push: MpPush) -> None:
        raise RuntimeError("the site's bug")

    wechat_mp_event.connect(broken, app)
    assert post(app, *safe_push(TEXT, appid=fake_wechat.mp_app.appid)) == (200, "success")
    assert "wechat_mp_event receiver failed" in caplog.text


@pytest.mark.parametrize("csrf_first", [True, False])
def test_csrf_protect_leaves_the_signed_push_alone(
    fake_wechat: FakeWeChat, csrf_first: bool
) -> None:
    from flask_wtf.csrf import CSRFProtect

    app = Flask(__name__)
    app.config.update(
        {"SECRET_KEY": "a test secret key", "TESTING": True, **fake_wechat.config()},
        WECHAT_WEB_STORE=SimpleCache(),
        **fake_wechat.push_config(),
    )
    if csrf_first:
        CSRFProtect(app)
    WeChatWeb(app)
    if not csrf_first:
        CSRFProtect(app)

    @app.post("/form")
    def form() -> str:
        return "taken"

    pushes = Pushes(app)
    assert post(app, *safe_push(TEXT, appid=fake_wechat.mp_app.appid)) == (200, "success")
    assert [push.content for push in pushes.received] == ["hi"]
    assert app.test_client().post("/form").status_code == 400  # the site's own forms still


def test_url_check_echoes_only_a_token_shaped_echostr(fake_wechat: FakeWeChat) -> None:
    client = push_app(fake_wechat).test_client()
    query = {**signed_query(), "echostr": "<script>alert(1)</script>"}
    answer = client.get("/wechat/mp/push", query_string=query)
    assert (answer.status_code, answer.text) == (400, "refused")


def test_a_fake_in_another_process_pushes_on_request(site: tuple[Served, Pushes]) -> None:
    served, pushes = site
    fake = FakeWeChat()
    with fake.serve() as server:
        form = {"url": served.push_url, "message": "subscribe", "scene": "s1", "user": "alice"}
        answer = requests.post(f"{server.open_base_url}/_fake/push", data=form, timeout=10)
        delivery = answer.json()
        assert delivery.pop("seconds") > 0
        assert delivery == {"status": 200, "text": "success", "deliveries": 1, "reply": None}
        text = {"url": served.push_url, "message": "text", "content": "42", "mode": "compatible"}
        assert requests.post(f"{server.open_base_url}/_fake/push", data=text, timeout=10).ok
        elsewhere = {**form, "url": "http://example.com/wechat/mp/push"}
        refused = requests.post(f"{server.open_base_url}/_fake/push", data=elsewhere, timeout=10)
        assert refused.status_code == 400
    assert [(push.scene, push.content) for push in pushes.received] == [("s1", ""), (None, "42")]
