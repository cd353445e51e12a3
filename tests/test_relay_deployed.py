"""The relay as deployed: three sites and WeChat on four loopback addresses.

127.0.0.21 is the relay, the one host registered with (fake) WeChat; it has
no AppID and no AppSecret. 127.0.0.22 ("shop", an exact entry) and
127.0.0.23 (``pr-7.preview.test``, behind the pattern ``*.preview.test``)
are two sites of the same WeChat app; 127.0.0.24 is the fake WeChat. WeChat's
Official Account refuses callback domains with a port, so the sites send
``http://127.0.0.21/wechat/relay``, as behind a proxy on port 80: the test's
browser plays that proxy (and the DNS of ``preview.test``) with its hosts map.
"""

from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import pytest
import requests
from flask import Flask
from flask_login import current_user, login_required

from flask_wechat_web import WeChatWeb
from flask_wechat_web.testing import FakeWeChat

from .conftest import MICROMESSENGER_UA, Served

RELAY_HOST, SHOP_HOST, PREVIEW_HOST, WECHAT_HOST = (
    "127.0.0.21",
    "127.0.0.22",
    "127.0.0.23",
    "127.0.0.24",
)
RELAY_URL = f"http://{RELAY_HOST}/wechat/relay"
DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/140.0 Safari/537.36"


@dataclass
class Deployment:
    fake: FakeWeChat
    relay: Served
    shop: Served
    preview: Served
    #: What a browser resolves: the portless relay URL, the preview host name.
    hosts: dict[str, str]
    shop_url: str
    preview_url: str


def downstream(fake: FakeWeChat, site_id: str) -> Flask:
    """A site of the shared WeChat app, behind the relay as ``site_id``."""
    app = Flask(f"site_{site_id}")
    app.config.update(
        SECRET_KEY=f"{site_id} secret key",
        WECHAT_WEB_RELAY_ID=site_id,
        WECHAT_WEB_CALLBACK_URL=RELAY_URL,
        **fake.config(),
    )
    WeChatWeb(app)

    @app.route("/private")
    @login_required
    def private() -> str:
        return f"{site_id} private for {current_user.get_id()}"

    return app


@pytest.fixture(scope="module")
def deployed() -> t.Iterator[Deployment]:
    fake = FakeWeChat()
    fake.serve(host=WECHAT_HOST)
    started: list[Served] = []
    try:
        shop = Served(downstream(fake, "shop"), SHOP_HOST)
        started.append(shop)
        preview = Served(downstream(fake, "preview"), PREVIEW_HOST)
        started.append(preview)
        preview_port = preview.server.port
        relay_app = Flask("relay")
        relay_app.config["WECHAT_WEB_RELAY_SITES"] = {
            "shop": f"http://{shop.netloc}",
            "preview": f"http://*.preview.test:{preview_port}",
        }
        WeChatWeb(relay_app)
        relay = Served(relay_app, RELAY_HOST)
        started.append(relay)
        # The one callback domain of both WeChat apps: the relay's host.
        for app in (fake.website_app, fake.mp_app):
            fake.add_app(app.appid, app.secret, kind=app.kind, bound=app.bound, domain=RELAY_HOST)
        hosts = {RELAY_HOST: relay.netloc, f"pr-7.preview.test:{preview_port}": preview.netloc}
        yield Deployment(
            fake,
            relay,
            shop,
            preview,
            hosts,
            f"http://{shop.netloc}",
            f"http://pr-7.preview.test:{preview_port}",
        )
    finally:
        for server in started:
            server.stop()
        if fake.server is not None:
            fake.server.stop()


class Browser:
    """One person's browser: a cookie jar, a user agent, a hosts file; no auto-redirects."""

    def __init__(self, hosts: dict[str, str], user_agent: str = DESKTOP_UA) -> None:
        self.session = requests.Session()
        self.session.trust_env = False  # loopback only, never a proxy
        self.hosts = hosts
        self.user_agent = user_agent

    def get(self, url: str) -> requests.Response:
        parts = urlsplit(url)
        real = parts._replace(netloc=self.hosts.get(parts.netloc, parts.netloc)).geturl()
        headers = {"Host": parts.netloc, "User-Agent": self.user_agent}
        return self.session.get(real, headers=headers, allow_redirects=False, timeout=10)


def authorize(browser: Browser, site_url: str) -> str:
    """Start a login on a site: the WeChat authorize URL it sends the browser to."""
    response = browser.get(f"{site_url}/wechat/login?next=/private")
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def through_relay(browser: Browser, callback: str, site_url: str) -> requests.Response:
    """WeChat's redirect to the relay, and the relay's forward to the site."""
    assert callback.startswith(f"{RELAY_URL}?")
    forward = browser.get(callback)
    assert forward.status_code == 302, forward.text
    location = forward.headers["Location"]
    assert location == f"{site_url}/wechat/authorized?{urlsplit(callback).query}"
    assert forward.headers["Cache-Control"] == "no-store"
    assert forward.headers["Referrer-Policy"] == "no-referrer"
    assert "Set-Cookie" not in forward.headers
    return browser.get(location)


def token_calls(fake: FakeWeChat) -> int:
    return fake.calls["access_token"]


SITES = ["shop_url", "preview_url"]


@pytest.mark.parametrize("site", SITES)
@pytest.mark.parametrize(
    ("user_agent", "page"),
    [(DESKTOP_UA, "/connect/qrconnect"), (MICROMESSENGER_UA, "/connect/oauth2/authorize")],
)
def test_a_login_on_each_site_completes_through_the_relay(
    deployed: Deployment, site: str, user_agent: str, page: str
) -> None:
    site_url = getattr(deployed, site)
    browser = Browser(deployed.hosts, user_agent)
    url = authorize(browser, site_url)
    assert urlsplit(url).path == page
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["redirect_uri"] == RELAY_URL
    calls = token_calls(deployed.fake)
    done = through_relay(browser, deployed.fake.approve(url), site_url)
    assert done.status_code == 302 and done.headers["Location"] == "/private"
    private = browser.get(f"{site_url}/private")
    assert private.status_code == 200 and "private for o" in private.text
    assert token_calls(deployed.fake) == calls + 1


def test_without_the_relay_wechat_refuses_both_sites(deployed: Deployment) -> None:
    for user_agent in (DESKTOP_UA, MICROMESSENGER_UA):
        for site_url in (deployed.shop_url, deployed.preview_url):
            browser = Browser(deployed.hosts, user_agent)
            url = authorize(browser, site_url)
            own = quote(f"{site_url}/wechat/authorized", safe="")
            direct = url.replace(quote(RELAY_URL, safe=""), own)
            assert direct != url
            with pytest.raises(ValueError, match="redirect_uri"):
                deployed.fake.approve(direct)
            page = browser.get(direct)
            assert page.status_code != 302 and "Location" not in page.headers
            assert "redirect_uri" in page.text and "code=" not in page.text


def test_the_embedded_qr_logs_in_through_the_relay(deployed: Deployment) -> None:
    browser = Browser(deployed.hosts)
    page = browser.get(f"{deployed.preview_url}/wechat/qrcode?next=/private")
    found = re.search(r"new WxLogin\((\{.*?\})\);", page.text)
    assert found is not None
    options = json.loads(found.group(1))
    assert options["redirect_uri"] == quote(RELAY_URL, safe="")
    # What wxLogin.js loads in its iframe: the redirect_uri pasted in as given.
    frame = (
        f"{deployed.fake.config()['WECHAT_WEB_OPEN_BASE_URL']}/connect/qrconnect"
        f"?appid={options['appid']}&scope={options['scope']}"
        f"&redirect_uri={options['redirect_uri']}&state={options['state']}"
        "&login_type=jssdk&self_redirect=default"
    )
    done = through_relay(browser, deployed.fake.approve(frame), deployed.preview_url)
    assert done.status_code == 302 and done.headers["Location"] == "/private"
    assert browser.get(f"{deployed.preview_url}/private").status_code == 200


def test_a_denial_passes_through_to_the_site(deployed: Deployment) -> None:
    browser = Browser(deployed.hosts)
    url = authorize(browser, deployed.shop_url)
    denied = deployed.fake.deny(url)
    assert "code=" not in denied
    page = through_relay(browser, denied, deployed.shop_url)
    assert page.status_code == 403


@pytest.mark.parametrize("fault", ["expired", "http_500"])
def test_wechats_errors_reach_the_site_as_without_a_relay(deployed: Deployment, fault: str) -> None:
    browser = Browser(deployed.hosts)
    callback = deployed.fake.approve(authorize(browser, deployed.preview_url))
    if fault == "expired":
        deployed.fake.advance(601)
    else:
        deployed.fake.inject("access_token", "http_500", times=1)
    page = through_relay(browser, callback, deployed.preview_url)
    assert page.status_code == (400 if fault == "expired" else 502)
    assert browser.get(f"{deployed.preview_url}/private").status_code == 302  # not logged in


# -- attacks: none forwards a code where it should not -----------------------------------------


def victims_callback(deployed: Deployment, site_url: str) -> str:
    """A real callback a victim's approval produced for a site (the victim never uses it)."""
    return deployed.fake.approve(authorize(Browser(deployed.hosts), site_url))


def with_state(callback: str, state: str) -> str:
    query = dict(parse_qsl(urlsplit(callback).query))
    return f"{RELAY_URL}?{urlencode({'code': query['code'], 'state': state})}"


def state_of(callback: str) -> str:
    return dict(parse_qsl(urlsplit(callback).query))["state"]


def assert_refused(response: requests.Response, callback: str) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert dict(parse_qsl(urlsplit(callback).query))["code"] not in response.text


def test_a_forged_id_forwards_nothing(deployed: Deployment) -> None:
    callback = victims_callback(deployed, deployed.shop_url)
    state = state_of(callback)
    assert state.startswith("4shop")
    for forged in ("4evil" + state[5:], "4SHOP" + state[5:], "3sho" + state[5:]):
        assert_refused(Browser(deployed.hosts).get(with_state(callback, forged)), callback)


def test_a_state_of_site_a_replayed_to_site_b_logs_nobody_in(deployed: Deployment) -> None:
    callback = victims_callback(deployed, deployed.shop_url)
    state = state_of(callback)
    calls = token_calls(deployed.fake)
    assert state.startswith("4shop00")  # an IP address: no host label
    to_preview = "7preview04prX7" + state[len("4shop00") :]
    attacker = Browser(deployed.hosts)
    # Renamed to B's id, the relay forwards to B, which never issued the state.
    page = through_relay(attacker, with_state(callback, to_preview), deployed.preview_url)
    assert page.status_code == 400
    # Sent to B's own callback as it is: B has no such state either.
    query = urlsplit(callback).query
    assert attacker.get(f"{deployed.preview_url}/wechat/authorized?{query}").status_code == 400
    assert token_calls(deployed.fake) == calls


def test_a_stolen_callback_is_bound_to_the_victims_session(deployed: Deployment) -> None:
    callback = victims_callback(deployed, deployed.shop_url)
    calls = token_calls(deployed.fake)
    attacker = Browser(deployed.hosts)
    page = through_relay(attacker, callback, deployed.shop_url)
    assert page.status_code == 400
    assert attacker.get(f"{deployed.shop_url}/private").status_code == 302
    assert token_calls(deployed.fake) == calls


@pytest.mark.parametrize(
    "extra",
    [
        {"redirect_uri": "http://127.0.0.66:9/steal"},
        {"target": "http://preview.test.127.0.0.66.nip.io/"},
        {"next": "//127.0.0.66/"},
        {"url": "http://a.preview.test@127.0.0.66/"},
    ],
)
def test_a_code_sent_with_a_target_of_the_attackers_choosing_goes_nowhere(
    deployed: Deployment, extra: dict[str, str]
) -> None:
    callback = victims_callback(deployed, deployed.preview_url)
    response = Browser(deployed.hosts).get(f"{callback}&{urlencode(extra)}")
    assert_refused(response, callback)
