"""The app's and the mini program's logins end to end over real HTTP (issue 21).

The example site in sandbox mode, served on loopback by its own process; a
``requests`` session plays each client: the sandbox's app-codes page gives
the codes a phone would get, as a person would press its buttons.
"""

from __future__ import annotations

import html
import re

import pytest
import requests

from ..conftest import submit_consent
from .conftest import Server

pytestmark = pytest.mark.e2e

_CODE = re.compile(r'<pre class="code" data-code>([^<]+)</pre>')


def sandbox_code(site: Server, kind: str, user: str) -> str:
    """Press the app-codes page's button for ``kind`` (``app``, ``miniprogram``) and ``user``."""
    page = requests.post(f"{site.url}/_wechat_sandbox/app-codes", data={kind: user}, timeout=10)
    assert page.status_code == 200, page.text[:500]
    found = _CODE.search(page.text)
    assert found is not None, page.text[:500]
    return html.unescape(found.group(1))


def test_one_person_is_one_user_on_the_web_in_the_app_and_in_the_mini_program(
    example_site: Server,
) -> None:
    # The website: the sandbox's QR page, approved as Alice.
    with requests.Session() as browser:
        page = browser.get(f"{example_site.url}/wechat/login?mode=qr", timeout=10)
        approved = submit_consent(browser, page, user="alice")
        assert approved.status_code in (302, 303), approved.text[:500]
        browser.get(approved.headers["Location"], timeout=10)
        web = browser.get(f"{example_site.url}/api/me", timeout=10).json()

    # The mobile app: its HTTP client keeps the session cookie.
    with requests.Session() as phone:
        code = sandbox_code(example_site, "app", "alice")
        answer = phone.post(f"{example_site.url}/wechat/app/login", json={"code": code}, timeout=10)
        assert answer.status_code == 200, answer.text[:500]
        assert answer.json()["user"]["source"] == "app"
        assert phone.get(f"{example_site.url}/api/me", timeout=10).json()["id"] == web["id"]
        # The code was used: a second try is a JSON error, not a page.
        again = phone.post(f"{example_site.url}/wechat/app/login", json={"code": code}, timeout=10)
        assert (again.status_code, again.json()["error"]) == (400, "InvalidCodeError")

    # The mini program: no cookie, the bearer token.
    code = sandbox_code(example_site, "miniprogram", "alice")
    answer = requests.post(
        f"{example_site.url}/wechat/miniprogram/login", json={"code": code}, timeout=10
    )
    assert answer.status_code == 200, answer.text[:500]
    assert "session_key" not in answer.text
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}
    me = requests.get(f"{example_site.url}/api/me", headers=bearer, timeout=10).json()
    assert me["id"] == web["id"] and len(me["accounts"]) == 3
    session = requests.get(f"{example_site.url}/wechat/session", headers=bearer, timeout=10)
    assert session.json()["user"]["source"] == "miniprogram"

    # Logged out, the token is refused with a 401 JSON, not a redirect.
    out = requests.post(f"{example_site.url}/wechat/logout", headers=bearer, timeout=10)
    assert out.status_code == 204
    refused = requests.get(
        f"{example_site.url}/api/me", headers=bearer, timeout=10, allow_redirects=False
    )
    assert (refused.status_code, refused.json()["error"]) == (401, "TokenExpiredError")
