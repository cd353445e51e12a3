"""Scan to follow across three hosts, with faults: a host killed, Redis restarted, PostgreSQL down.

The topology is ``benchmarks/topology.py``'s; browsers wait as the page's
script does and phones are driven by HTTP (``benchmarks/follow.py``). Each
run: :data:`PAGES` browsers wait on one host, the fault strikes while they
wait, then each is scanned (the push to another host) and confirmed (on
the third). No answer is a 500; each login goes to the browser whose QR
code was scanned, once; with the sessions lost (Redis without persistence)
the pages end "expired" and offer a new QR code instead.
"""

from __future__ import annotations

import signal
import time
import typing as t

import psycopg
import pytest

from benchmarks.follow import Phone, Waiter
from benchmarks.topology import Topology
from benchmarks.topology_nginx import FAIL_TIMEOUT

pytestmark = pytest.mark.e2e

PAGES = 6


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Topology]:
    with Topology(tmp_path_factory.mktemp("topology-follow")) as topology:
        yield topology


@pytest.fixture
def site(topology: Topology) -> Topology:
    topology.clear()
    return topology


def waiting(site: Topology, run: str) -> list[tuple[Waiter, str]]:
    """:data:`PAGES` browsers waiting on the second host, each QR code scanned; the replies.

    One after another: a scan takes the newest QR code. Each by a user of
    its own, the push sent to the first host.
    """
    pages = []
    for n in range(PAGES):
        page = Waiter(site, site.hosts[1])
        page.open()
        delivery = Phone(site, f"{run}{n}").scan(site.hosts[0])
        pages.append((page, delivery["reply"]))
    time.sleep(0.3)  # their asks are held
    return pages


def confirm(site: Topology, pages: list[tuple[Waiter, str]], run: str) -> list[Waiter]:
    """Each person confirms on their phone, on the third host."""
    for n, (_, reply) in enumerate(pages):
        Phone(site, f"{run}{n}").confirm(reply, site.hosts[2])
    return [page for page, _ in pages]


def ended(pages: list[Waiter]) -> None:
    for page in pages:
        assert page.ended.wait(40), page.outcome


def who(site: Topology, page: Waiter) -> list[str]:
    """The openids of the WeChat accounts of the user this browser is logged in as."""
    me = page.get("/api/me")
    assert me.status_code == 200, me.text
    return [account["openid"] for account in me.json()["accounts"]]


def assert_logged_in_once_each(site: Topology, pages: list[Waiter]) -> None:
    ended(pages)
    assert [page.outcome for page in pages] == ["done 200"] * PAGES
    openids = [who(site, page) for page in pages]
    assert all(len(ids) == 1 for ids in openids)
    assert len({ids[0] for ids in openids}) == PAGES  # each browser its own person
    with psycopg.connect(site.database) as conn:
        found = conn.execute('SELECT count(*) FROM "user"').fetchone()
        assert found is not None and found[0] == PAGES  # one user per scan: none twice
    for page in pages:
        assert not [code for code in page.seen if code == 500 or code == "cut off"]


def test_a_host_killed_while_pages_wait(site: Topology) -> None:
    scanned = waiting(site, "kill")
    site.hosts[1].signal(signal.SIGKILL)  # the host the pages wait on
    time.sleep(0.5)
    site.hosts[1].start()
    pages = confirm(site, scanned, "kill")
    # The held asks were cut (nginx's 502: pinned, no other host) and asked again.
    assert_logged_in_once_each(site, pages)
    assert any(502 in page.seen for page in pages)
    time.sleep(FAIL_TIMEOUT)


def test_redis_restarted_with_persistence(site: Topology) -> None:
    site.restart_redis(persistent=True)
    site.clear()
    try:
        scanned = waiting(site, "aof")
        site.restart_redis()
        assert_logged_in_once_each(site, confirm(site, scanned, "aof"))
    finally:
        site.restart_redis(persistent=False)


def test_redis_restarted_without_persistence(site: Topology) -> None:
    pages = [page for page, _ in waiting(site, "redis")]
    site.restart_redis()
    ended(pages)  # sessions and scenes gone: each page says so, and cleanly
    assert [page.outcome for page in pages] == ["expired"] * PAGES
    assert all(500 not in page.seen for page in pages)
    again = pages[0].get("/wechat/follow?next=/account")
    assert again.status_code == 200 and "<svg" in again.text  # a new QR code


def test_postgres_down_for_5_seconds(site: Topology) -> None:
    scanned = waiting(site, "pg")
    site.postgres.stop()
    try:
        pages = confirm(site, scanned, "pg")  # no database on the way: scenes are in Redis
        time.sleep(5)
    finally:
        site.postgres.start()
    assert_logged_in_once_each(site, pages)
    assert any(503 in page.seen for page in pages)  # the login waited for the database
