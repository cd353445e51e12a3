"""The callback relay: its allow-list, the state it reads, what it forwards and refuses."""

from __future__ import annotations

import itertools
import re
import typing as t
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from flask import Flask, render_template_string
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flask_wechat_web import ConfigurationError, WeChatWeb
from flask_wechat_web.config import problems
from flask_wechat_web.relay import parse_site, parse_state
from flask_wechat_web.testing import FakeWeChat

from .conftest import log_in, make_app, query_of, start_login

SITES = {
    "shop": "https://shop.example.com",
    "brand2": "https://brand2.example.com/auth/wechat/authorized",
    "laptop": "http://localhost:5000/wechat/authorized",
    "preview": "https://*.preview.example.com",
}
#: What each entry forwards to (a pattern: one label in place of ``*``).
CALLBACKS = {
    "shop": re.compile(r"https://shop\.example\.com/wechat/authorized"),
    "brand2": re.compile(r"https://brand2\.example\.com/auth/wechat/authorized"),
    "laptop": re.compile(r"http://localhost:5000/wechat/authorized"),
    "preview": re.compile(
        r"https://[a-z0-9]([a-z0-9-]*[a-z0-9])?\.preview\.example\.com/wechat/authorized"
    ),
}
RANDOM = "Q7x2" * 8  # 32 characters, as a site's own state has
#: Hosts an attacker would like a pattern to take for one of its own.
HOSTILE_HOSTS = [
    "preview.example.com.evil.com",
    "evil.com/preview.example.com",
    "evil.com/.preview.example.com",
    "a.preview.example.com@evil.com",
    "evil.com#.preview.example.com",
    "evil.com?.preview.example.com",
    "evil.com\\.preview.example.com",
    "evil.com%2F.preview.example.com",
    "evil%2ecom.preview.example.com",
    "evil.com%00.preview.example.com",
    "a\uff0epreview.example.com",  # fullwidth full stop
    "a\u3002preview.example.com",  # ideographic full stop
    "\u0435vil.preview.example.com",  # Cyrillic e
    "xn--vil-8cd.preview.example.com.evil.com",
    "a.b.preview.example.com",
    ".preview.example.com",
    "-a.preview.example.com",
    "preview.example.com",
    "evilpreview.example.com",
    "a.preview.example.com:8443",
    "a.preview.example.com.",
    "A.PREVIEW.EXAMPLE.COM",
]


def relayed_state(site_id: str, label: str = "", random: str = RANDOM) -> str:
    """A state as a site behind the relay makes it (see ``relay.py``)."""
    length = "123456789abcdef"[len(site_id) - 1]
    return f"{length}{site_id}{len(label):02d}{label.replace('-', 'X')}{random}"


def relay_app(**config: t.Any) -> Flask:
    """A site that only relays: no AppID, no AppSecret."""
    app = Flask(__name__)
    app.config.update(TESTING=True, SECRET_KEY="relay key", WECHAT_WEB_RELAY_SITES=SITES)
    app.config.update(config)
    WeChatWeb(app)
    return app


@pytest.fixture
def relay() -> Flask:
    return relay_app()


def assert_forwarded_nothing(response: t.Any, *secrets: str) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    body = response.get_data(as_text=True)
    assert "微信回调中转没有转发这次回调" in body  # zh_CN, the default
    for value in secrets:
        assert value not in body


# -- the state a site behind the relay sends ------------------------------------------------


def test_state_carries_the_id_and_host_label_within_wechats_rules(
    fake_wechat: FakeWeChat,
) -> None:
    app, _ = make_app(
        fake_wechat,
        SERVER_NAME="pr-17.preview.example.com",
        WECHAT_WEB_RELAY_ID="preview",
        WECHAT_WEB_CALLBACK_URL="https://auth.example.com/wechat/relay",
    )
    location = start_login(app.test_client())
    assert query_of(location)["redirect_uri"] == ["https://auth.example.com/wechat/relay"]
    state = query_of(location)["state"][0]
    assert re.fullmatch(r"[A-Za-z0-9]{1,128}", state)
    assert state.startswith("7preview05prX17")
    assert len(state) - len("7preview05prX17") == 32  # the site's own random state
    assert parse_state(state) == ("preview", "pr-17")


def test_a_site_that_relays_also_logs_its_own_users_in(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_RELAY_SITES=SITES)
    client = app.test_client()
    response, _ = log_in(client, fake_wechat, next="/private")
    assert response.status_code == 302 and response.location == "/private"
    state = relayed_state("shop")
    assert client.get(f"/wechat/relay?code=c0de&state={state}").status_code == 302


def test_a_site_not_behind_a_relay_keeps_its_plain_state(client: t.Any) -> None:
    state = query_of(start_login(client))["state"][0]
    assert re.fullmatch(r"[A-Za-z0-9]{32}", state)


@pytest.mark.parametrize(
    ("state", "decoded"),
    [
        (relayed_state("shop"), ("shop", "")),
        (relayed_state("a", "x"), ("a", "x")),
        (relayed_state("abcdefghijklmno", "a" * 63), ("abcdefghijklmno", "a" * 63)),
        (relayed_state("shop", "xn--fiq228c"), ("shop", "xn--fiq228c")),
        (relayed_state("shop", random="A" * 22), ("shop", "")),
        (relayed_state("shop", random="A" * 21), None),  # under 128 bits of randomness
        ("0shop00" + RANDOM, None),  # no id
        ("gshop00" + RANDOM, None),  # not a length
        ("5shop00" + RANDOM, None),  # the id would swallow the label length
        ("4shop9" + RANDOM, None),
        ("4shop64" + "a" * 64 + RANDOM, None),  # longer than a DNS label
        ("4shop04Evil" + RANDOM, None),  # labels are lowercase
        ("4shop04Xabc" + RANDOM, None),  # a label does not start with "-"
        ("4shop04abcX" + RANDOM, None),
        ("4shop" + "00" + "A" * 124, None),  # over 128 characters
        ("4shop00" + "Ａ" * 32, None),  # fullwidth letters
        ("", None),
    ],
)
def test_parse_state(state: str, decoded: tuple[str, str] | None) -> None:
    assert parse_state(state) == decoded


# -- the allow-list --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "*",
        "https://*",
        "https://*.com",
        "https://**.example.com",
        "https://*.*.example.com",
        "https://a*.example.com",
        "https://shop.*.example.com",
        "https://*.127.0.0.1",
        "https://shop.example.com/*",
        "ftp://shop.example.com",
        "shop.example.com",
        "https://user@shop.example.com",
        "https://shop.example.com?next=x",
        "https://shop.example.com/#x",
        "https://shop.example.com\\@evil.com",
        "https://shop%2eexample.com",
        "https://SHOP.example.com",
        "https://shop\uff0eexample.com",
        "https://shop.example.com:99999",
        "https://shop.example.com/../x",
        "https://shop.example.com/a b",
        "",
        None,
        ["https://shop.example.com"],
    ],
)
def test_allow_list_refuses_all_but_urls_and_narrow_patterns(value: t.Any) -> None:
    assert isinstance(parse_site("shop", value), str)


@pytest.mark.parametrize(
    "value",
    [
        "https://*.com.cn",
        "https://*.co.uk",
        "https://*.github.io",  # private suffixes count too: anyone gets a name there
        "https://*.vercel.app",
        "https://*.s3.amazonaws.com",
        "https://*.xn--fiqs8s",  # .中国
        "https://*.example",  # an unknown top-level domain is a suffix as well
    ],
)
def test_a_pattern_over_a_public_suffix_is_refused_at_init_app(value: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        relay_app(WECHAT_WEB_RELAY_SITES={"preview": value})
    message = caught.value.message
    assert "WECHAT_WEB_RELAY_SITES['preview']" in message and "Public Suffix List" in message
    assert value not in message


@pytest.mark.parametrize(
    "value",
    [
        "https://*.preview.example.com",
        "https://*.example.com.cn",
        "https://*.shop.example.co.uk",
        "https://*.mine.github.io",  # one user's own pages
        "http://*.preview.test:8000",
    ],
)
def test_a_pattern_under_a_registrable_domain_is_accepted(value: str) -> None:
    assert not isinstance(parse_site("preview", value), str)


def test_allow_list_reads_origins_full_urls_and_patterns() -> None:
    site = parse_site("shop", "https://shop.example.com")
    assert not isinstance(site, str)
    assert site.target("") == "https://shop.example.com/wechat/authorized"
    site = parse_site("dev", "http://127.0.0.22:8000/auth/cb")
    assert not isinstance(site, str)
    assert site.target("ignored") == "http://127.0.0.22:8000/auth/cb"
    site = parse_site("preview", "https://*.preview.example.com:8443/")
    assert not isinstance(site, str)
    assert site.target("pr-1") == "https://pr-1.preview.example.com:8443/wechat/authorized"
    assert site.target("") is None


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_a_pattern_matches_no_attacker_host(host: str) -> None:
    site = parse_site("preview", "https://*.preview.example.com")
    assert not isinstance(site, str)
    assert site.allows("https://pr-1.preview.example.com/wechat/authorized")
    assert not site.allows(f"https://{host}/wechat/authorized")
    assert not site.allows("http://pr-1.preview.example.com/wechat/authorized")
    assert not site.allows("https://pr-1.preview.example.com/wechat/authorized/x")


@pytest.mark.parametrize("host", HOSTILE_HOSTS)
def test_the_relay_cannot_be_told_an_attacker_host(relay: Flask, host: str) -> None:
    client = relay.test_client()
    # Not in the state: a label is letters, digits and "-" only ...
    label = host.replace("-", "X")
    response = client.get(
        "/wechat/relay", query_string={"code": "CODE1234", "state": relayed_state("preview", label)}
    )
    assert_forwarded_nothing(response, "CODE1234")
    # ... and not beside it.
    for name in ("redirect_uri", "target", "url", "next", "host"):
        response = client.get(
            "/wechat/relay",
            query_string={
                "code": "CODE1234",
                "state": relayed_state("preview", "pr-1"),
                name: f"https://{host}/wechat/authorized",
            },
        )
        assert_forwarded_nothing(response, "CODE1234", host)


def test_config_problems_name_the_id_never_the_value() -> None:
    value = "https://x.example.com/?secret=3f9c2e7a1b4d6f8e0a2c4e6b8d0f1a3c"
    found = problems(
        {
            "WECHAT_WEB_RELAY_SITES": {"shop": value, "bad id!": "https://a.example.com", "p": "*"},
            "WECHAT_WEB_URL_PREFIX": "/wechat",
            "WECHAT_WEB_SCOPE": "snsapi_login",
            "WECHAT_WEB_MP_SCOPE": "snsapi_base",
            "WECHAT_WEB_LANG": "en",
            "WECHAT_WEB_OPEN_BASE_URL": "https://open.weixin.qq.com",
            "WECHAT_WEB_API_BASE_URL": "https://api.weixin.qq.com",
            "WECHAT_WEB_WXLOGIN_JS_URL": "https://res.wx.qq.com/wxLogin.js",
            "WECHAT_WEB_TIMEOUT": 5,
            "WECHAT_WEB_STATE_TTL": 600,
        }
    )
    assert len(found) == 3, found  # a relay needs no AppID or AppSecret
    assert (
        "WECHAT_WEB_RELAY_SITES['shop']" in found[0] and "WECHAT_WEB_RELAY_SITES['p']" in found[2]
    )
    assert "bad id!" not in " ".join(found) and "3f9c2e" not in " ".join(found)
    assert "bare '*'" in found[2]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"WECHAT_WEB_RELAY_SITES": {}}, "must be a dict"),
        ({"WECHAT_WEB_RELAY_SITES": "shop=https://shop.example.com"}, "must be a dict"),
        ({"WECHAT_WEB_RELAY_ID": "shop"}, "WECHAT_WEB_CALLBACK_URL is not"),
        (
            {"WECHAT_WEB_RELAY_ID": "shop-1", "WECHAT_WEB_CALLBACK_URL": "https://a.example.com"},
            "1 to 15 letters and digits",
        ),
        (
            {
                "WECHAT_WEB_RELAY_ID": "shop",
                "WECHAT_WEB_CALLBACK_URL": "https://a.example.com/wechat/relay",
                "WECHAT_WEB_RELAY_SITES": SITES,
            },
            "both set",
        ),
        (
            {
                "WECHAT_WEB_RELAY_ID": "shop",
                "WECHAT_WEB_CALLBACK_URL": "https://a.example.com/wechat/relay",
                "WECHAT_WEB_SANDBOX": True,
            },
            "needs no relay",
        ),
    ],
)
def test_relay_settings_are_checked_at_init_app(
    fake_wechat: FakeWeChat, config: dict[str, t.Any], expected: str
) -> None:
    with pytest.raises(ConfigurationError, match=expected):
        make_app(fake_wechat, **config)


# -- the route -------------------------------------------------------------------------------


def test_no_relay_route_without_relay_sites(app: Flask) -> None:
    assert "wechat.relay" not in app.view_functions
    assert app.test_client().get("/wechat/relay?state=x&code=y").status_code == 404


def test_relay_forwards_code_and_state_unchanged_and_nothing_else(relay: Flask) -> None:
    state = relayed_state("preview", "pr-17")
    code = "0a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P"
    response = relay.test_client().get(f"/wechat/relay?code={code}&state={state}")
    assert response.status_code == 302
    assert response.location == (
        f"https://pr-17.preview.example.com/wechat/authorized?code={code}&state={state}"
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in response.headers
    assert response.get_data() == b""


def test_relay_forwards_a_denial_as_a_state_alone(relay: Flask) -> None:
    state = relayed_state("brand2")
    response = relay.test_client().get(f"/wechat/relay?state={state}")
    assert response.status_code == 302
    assert response.location == f"https://brand2.example.com/auth/wechat/authorized?state={state}"


def test_relay_mounted_with_the_blueprint_elsewhere() -> None:
    app = Flask(__name__)
    app.config.update(TESTING=True, WECHAT_WEB_RELAY_SITES=SITES)
    wechat = WeChatWeb(app, register_blueprint=False)
    app.register_blueprint(wechat.blueprint, url_prefix="/auth/wechat")
    response = app.test_client().get(f"/auth/wechat/relay?code=c0de&state={relayed_state('shop')}")
    assert response.location.startswith("https://shop.example.com/wechat/authorized?code=c0de")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "code=CODE1234",
        "code=CODE1234&state=",
        f"code=&state={relayed_state('shop')}",
        f"code=CODE1234&state={relayed_state('shop')}&state={relayed_state('brand2')}",
        f"code=CODE1234&code=CODE5678&state={relayed_state('shop')}",
        f"code=CODE1234&state={relayed_state('evil')}",  # an id off the list
        f"code=CODE1234&state={relayed_state('SHOP')}",  # ids are exact
        f"code=CODE1234&state={relayed_state('preview')}",  # a pattern, and no host named
        f"code=CODE1234&state={RANDOM}",  # a plain state, not a relayed one
        f"code=CODE1234&state[]={relayed_state('shop')}",
        f"code=CODE1234&state={relayed_state('shop')}&redirect_uri=https%3A%2F%2Fevil.com",
        f"code=CODE1234&state={relayed_state('shop')}&next=//evil.com",
        f"code=CODE1234&state={relayed_state('shop')}&error=x",
        f"code=CODE%0A1234&state={relayed_state('shop')}",
        f"code={'C' * 513}&state={relayed_state('shop')}",
        f"code=CODE1234&state={relayed_state('shop')}%00",
        f"code=CODE1234&state={relayed_state('shop')}#https://evil.com",
    ],
)
def test_relay_refuses_and_forwards_nothing(relay: Flask, query: str) -> None:
    response = relay.test_client().get(f"/wechat/relay?{query}")
    if query.endswith("#https://evil.com"):
        # A fragment never reaches the server: what arrives is a good callback.
        assert response.status_code == 302 and "evil" not in response.location
        return
    assert_forwarded_nothing(response, "CODE1234")


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"])
def test_relay_refuses_other_methods(relay: Flask, method: str) -> None:
    # docs/relay.rst: every method but GET and HEAD gets 405, OPTIONS too.
    query = f"code=CODE1234&state={relayed_state('shop')}"
    response = relay.test_client().open(f"/wechat/relay?{query}", method=method)
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"GET", "HEAD"}
    assert "CODE1234" not in response.get_data(as_text=True)


def test_a_relay_only_site_logs_nobody_in(relay: Flask) -> None:
    response = relay.test_client().get("/wechat/login")
    assert response.status_code == 500  # a ConfigurationError: the page for the site owner
    assert "only relays" in response.get_data(as_text=True)


JSON_ROUTES = {"wechat.app_login", "wechat.miniprogram_login", "wechat.session"}
PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"
IN_WECHAT = f"{PHONE} MicroMessenger/8.0.47"


def test_a_relay_only_site_answers_every_login_route_with_the_setup_page(
    relay: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = relay.test_client()
    rules = [rule for rule in relay.url_map.iter_rules() if rule.endpoint.startswith("wechat.")]
    assert {rule.endpoint for rule in rules} == {
        "wechat.login",
        "wechat.qrcode",
        "wechat.authorized",
        "wechat.logout",
        "wechat.code_login",
        "wechat.relay",
        "wechat.follow",
        "wechat.follow_confirm",
        # The JSON routes of apps and single-page sites: the same, as JSON.
        *JSON_ROUTES,
        "wechat.follow_status",
    }
    queries = ["", "?next=/account", "?mode=qr", "?mode=mp", f"?code=CODE1234&state={RANDOM}"]
    for rule in rules:
        if rule.endpoint == "wechat.relay":
            continue
        methods = set(rule.methods or ()) - {"OPTIONS"}
        if rule.endpoint == "wechat.authorized":
            methods.discard("HEAD")  # a HEAD never reaches the callback (405)
        for method, query, agent in itertools.product(
            sorted(methods), queries, ["", PHONE, IN_WECHAT]
        ):
            response = client.open(
                f"{rule.rule}{query}", method=method, headers={"User-Agent": agent}
            )
            where = f"{method} {rule.rule}{query} {agent}"
            assert response.status_code == 500, where
            assert response.headers["Cache-Control"] == "no-store", where
            if rule.endpoint in {*JSON_ROUTES, "wechat.follow_status"} and method != "HEAD":
                assert response.get_json()["error"] == "ConfigurationError", where
                assert "CODE1234" not in response.get_data(as_text=True), where
            elif method != "HEAD":
                body = response.get_data(as_text=True)
                assert "only relays" in body and "Traceback" not in body, where
                assert "CODE1234" not in body, where
    assert "only relays" in caplog.text and "CODE1234" not in caplog.text
    # No sandbox on this site; and the relay itself still forwards.
    assert client.get("/_wechat_sandbox/connect/qrconnect").status_code == 404
    forwarded = client.get(f"/wechat/relay?code=CODE1234&state={relayed_state('shop')}")
    assert forwarded.status_code == 302
    assert forwarded.location.startswith("https://shop.example.com/wechat/authorized?code=CODE1234")


def test_a_relay_only_sites_own_page_with_the_embedded_qr_gets_the_setup_page(relay: Flask) -> None:
    relay.add_url_rule(
        "/sign-in", "sign_in", lambda: render_template_string("{{ wechat_qrcode_options() }}")
    )
    response = relay.test_client().get("/sign-in")
    assert response.status_code == 500 and "only relays" in response.get_data(as_text=True)


def test_a_relay_with_the_sandbox_logs_in_through_the_sandbox() -> None:
    # The sandbox fills in its sample credentials, so the site is no longer relay-only.
    client = relay_app(WECHAT_WEB_SANDBOX=True).test_client()
    for path in ("/wechat/login", "/wechat/qrcode", "/wechat/logout", "/wechat/authorized"):
        for agent in ("", PHONE, IN_WECHAT):
            response = client.get(path, headers={"User-Agent": agent})
            assert response.status_code in (200, 302, 400), (path, agent)
    location = client.get("/wechat/login?mode=qr").location
    assert location.startswith("/_wechat_sandbox/connect/qrconnect?")
    assert client.get(location).status_code == 200
    forwarded = client.get(f"/wechat/relay?code=CODE1234&state={relayed_state('shop')}")
    assert forwarded.status_code == 302


@pytest.mark.parametrize("prefix", ["/wechat", "/auth/wechat"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/relay"),  # the relay's own 302
        ("GET", "//relay"),  # Werkzeug's merge_slashes 308, before any hook of the blueprint
        ("GET", "///relay"),
        ("GET", "//authorized"),
        ("HEAD", "//authorized"),
        ("GET", "//login"),
        ("GET", "/relay/"),  # 404
        ("GET", "/authorized/"),
        ("GET", "/nothing"),
        ("POST", "//relay"),  # 405
        ("PUT", "/authorized"),
        ("OPTIONS", "/relay"),
        ("OPTIONS", "//relay"),
    ],
)
def test_every_answer_carrying_a_code_is_private(
    fake_wechat: FakeWeChat, prefix: str, method: str, path: str
) -> None:
    app, _ = make_app(fake_wechat, WECHAT_WEB_RELAY_SITES=SITES, WECHAT_WEB_URL_PREFIX=prefix)
    query = f"code=CODE1234&state={relayed_state('shop')}"
    response = app.test_client().open(
        f"{prefix}{path}?{query}", method=method, environ_overrides={"PATH_INFO": prefix + path}
    )
    assert response.status_code in (302, 308, 404, 405)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/private//", "/nowhere", "/private/x"])
def test_the_sites_own_routing_answers_carrying_a_code_are_private(
    fake_wechat: FakeWeChat, path: str
) -> None:
    app, _ = make_app(fake_wechat)
    response = app.test_client().get(f"{path}?code=CODE1234", environ_overrides={"PATH_INFO": path})
    assert response.status_code in (302, 308, 404)
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_the_sites_own_answers_are_left_alone(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(fake_wechat)
    client = app.test_client()
    for path in ("/?code=CODE1234", "/nowhere", "//private"):
        response = client.get(path, environ_overrides={"PATH_INFO": path.partition("?")[0]})
        assert "Cache-Control" not in response.headers, path
        assert "Referrer-Policy" not in response.headers, path


def test_relay_logs_why_and_never_the_code(relay: Flask, caplog: pytest.LogCaptureFixture) -> None:
    relay.test_client().get(f"/wechat/relay?code=CODE1234&state={relayed_state('evil')}")
    assert "names no site" in caplog.text and "CODE1234" not in caplog.text


# -- any query: a 302 to an allow-listed callback, or a 400 ----------------------------------

IDS = st.sampled_from([*SITES, "evil", "SHOP", "a", "preview2"]) | st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzAZ09", min_size=1, max_size=15
)
LABELS = st.sampled_from(["", "pr-1", "evil", "a" * 63, "a" * 64, "-x", "Ab", "x.y"]) | st.text(
    alphabet="abcxyz019-X.", max_size=12
)
RELAYED = st.builds(
    relayed_state, IDS, LABELS, st.text(alphabet="AbZ019", min_size=18, max_size=40)
)
VALUES = RELAYED | st.text(max_size=40) | st.sampled_from(["", "%00", "\r\n", "https://evil.com"])
NAMES = st.sampled_from(["state", "code", "redirect_uri", "state[]", "x"])
GOOD = st.tuples(
    st.tuples(
        st.just("code"),
        st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=40),
    ),
    st.tuples(
        st.just("state"),
        st.builds(
            relayed_state,
            st.sampled_from(list(SITES)),
            st.sampled_from(["", "pr-1", "a" * 63, "xn--fiq228c"]) | LABELS,
            st.text(alphabet="AbZ019", min_size=22, max_size=40),
        ),
    ),
).map(list)
QUERY = (
    st.lists(st.tuples(NAMES, VALUES), max_size=4)
    | GOOD
    | st.tuples(st.tuples(st.just("state"), RELAYED)).map(list)
    | GOOD.flatmap(st.permutations)  # WeChat sends code first; the order does not matter
)


@settings(
    max_examples=2000,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(query=QUERY)
def test_relay_answers_a_forward_to_the_list_or_a_400(
    relay: Flask, query: list[tuple[str, str]]
) -> None:
    response = relay.test_client().get(f"/wechat/relay?{urlencode(query)}")
    assert response.status_code in (302, 400), response.status_code
    event(str(response.status_code))
    assert response.headers["Cache-Control"] == "no-store"
    if response.status_code == 400:
        assert "Location" not in response.headers
        return
    sent = dict(query)
    assert sorted(name for name, _ in query) in (["code", "state"], ["state"])
    base, _, forwarded = response.location.partition("?")
    state_site = t.cast(tuple[str, str], parse_state(sent["state"]))[0]
    assert CALLBACKS[state_site].fullmatch(base), response.location
    assert urlsplit(base).hostname and "@" not in base and "\\" not in base
    expected = [("code", sent["code"])] if "code" in sent else []
    assert parse_qsl(forwarded, keep_blank_values=True) == [*expected, ("state", sent["state"])]


# -- flask wechat urls -----------------------------------------------------------------------


def test_urls_on_the_relay_site_print_its_one_domain_and_its_sites() -> None:
    app = relay_app(SERVER_NAME="auth.example.com", PREFERRED_URL_SCHEME="https")
    result = app.test_cli_runner().invoke(args=["wechat", "urls"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Relay URL: https://auth.example.com/wechat/relay"
    assert "Website app: enter auth.example.com" in lines
    assert "Official Account: enter auth.example.com" in lines
    assert "  shop: https://shop.example.com/wechat/authorized" in lines
    assert (
        "  preview: https://*.preview.example.com/wechat/authorized"
        " (any one DNS label in place of *)"
    ) in lines
    for check in (["check"], ["check", "--online"]):  # no AppID, no AppSecret: nothing missing
        assert app.test_cli_runner().invoke(args=["wechat", *check]).exit_code == 0


def test_urls_on_a_site_behind_the_relay_say_so(fake_wechat: FakeWeChat) -> None:
    app, _ = make_app(
        fake_wechat,
        SERVER_NAME="shop.example.com",
        PREFERRED_URL_SCHEME="https",
        WECHAT_WEB_RELAY_ID="shop",
        WECHAT_WEB_CALLBACK_URL="https://auth.example.com/wechat/relay",
    )
    result = app.test_cli_runner().invoke(args=["wechat", "urls"])
    assert result.exit_code == 0, result.output
    assert "goes through the relay at https://auth.example.com/wechat/relay" in result.output
    assert (
        "as site 'shop'; the relay forwards codes to https://shop.example.com/wechat/authorized"
        in (result.output)
    )
    assert "Register nothing for this site" in result.output
    assert "enter shop.example.com" not in result.output
