"""The code login across three hosts: the message's push on one, the code typed on another.

The topology is ``benchmarks/topology.py``'s. Each person sends the account
登录 (the fake's push, through nginx to the first host), reads the code in
the reply, and types it in a browser on the second host; a third host's
browser tries the same code afterwards. Then the same with the first host
killed between the reply and the typing: the code lives in Redis, not in
the host that issued it.
"""

from __future__ import annotations

import re
import signal
import time
import typing as t

import pytest
import requests

from benchmarks.topology import Topology
from benchmarks.topology_nginx import FAIL_TIMEOUT, UPSTREAM_HEADER, UPSTREAM_QUERY
from benchmarks.topology_servers import AppHost

pytestmark = pytest.mark.e2e

PEOPLE = 4
_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Topology]:
    with Topology(tmp_path_factory.mktemp("topology-code")) as topology:
        yield topology


@pytest.fixture
def site(topology: Topology) -> Topology:
    topology.clear()
    return topology


def ask_for_code(site: Topology, user: str, host: AppHost) -> str:
    """``user`` sends the account 登录; the push goes to ``host``; the code of the reply."""
    url = f"{site.push_url}?{UPSTREAM_QUERY}={host.number}"
    fake = f"{site.fake_config['WECHAT_WEB_OPEN_BASE_URL']}/_fake/push"
    form = {"url": url, "message": "text", "content": "登录", "user": user}
    delivery = requests.post(fake, data=form, verify=site.ca, timeout=30).json()
    assert delivery["status"] == 200, delivery  # a late answer is delivered again, reply and all
    found = re.search(r"\d{4} \d{4}", delivery["reply"] or "")
    assert found, delivery
    return found.group(0)


def type_code(
    site: Topology, code: str, host: AppHost
) -> tuple[requests.Session, requests.Response]:
    """A new browser on ``host`` types ``code``: the browser, and the answer to the form."""
    browser = requests.Session()
    browser.trust_env, browser.verify = False, str(site.ca)
    browser.headers.update({"Accept-Language": "en", UPSTREAM_HEADER: host.number})
    page = browser.get(f"{site.url}/wechat/code?next=/account", timeout=30)
    assert page.status_code == 200, page.text[:300]
    token = _TOKEN.search(page.text)
    assert token, page.text[:300]
    form = {"code": code, "form_token": token.group(1), "next": "/account"}
    answer = browser.post(f"{site.url}/wechat/code", data=form, allow_redirects=False, timeout=30)
    return browser, answer


def openids(site: Topology, browser: requests.Session) -> list[str]:
    me = browser.get(f"{site.url}/api/me", timeout=30)
    assert me.status_code == 200, me.text
    return [account["openid"] for account in me.json()["accounts"]]


def test_a_code_from_one_host_logs_in_on_another_once(site: Topology) -> None:
    people = []
    for n in range(PEOPLE):
        code = ask_for_code(site, f"code{n}", site.hosts[0])
        browser, answer = type_code(site, code, site.hosts[1])
        assert answer.status_code == 302, answer.text[:300]
        people.append((code, browser))
    ids = [openids(site, browser) for _, browser in people]
    assert all(len(found) == 1 for found in ids)
    assert len({found[0] for found in ids}) == PEOPLE  # each browser its own person
    for code, _ in people:  # spent: the same code on the third host logs no one in
        _, again = type_code(site, code, site.hosts[2])
        assert again.status_code == 400


def test_the_issuing_host_killed_before_the_code_is_typed(site: Topology) -> None:
    code = ask_for_code(site, "killed", site.hosts[0])
    site.hosts[0].signal(signal.SIGKILL)
    try:
        browser, answer = type_code(site, code, site.hosts[2])
        assert answer.status_code == 302, answer.text[:300]
        assert len(openids(site, browser)) == 1
    finally:
        site.hosts[0].start()
        time.sleep(FAIL_TIMEOUT)
