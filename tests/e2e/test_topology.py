"""Many hosts, one login: three app hosts behind nginx, Redis sessions, PostgreSQL.

The topology is ``benchmarks/topology.py``'s (the example under gunicorn on
127.0.0.11-13, nginx round robin on 127.0.0.10, the fake WeChat on
127.0.0.20 over TLS at RTT 30 ms). One run of 500 logins from 50 clients,
every second login of each sent to three different hosts, one step on each
(nginx, pinned by a header), the others round robin;
then one smaller run per fault: an app host killed, Redis restarted without
and with persistence, PostgreSQL stopped for 5 s. Each run's figures go to
``test-artifacts/topology-runs.json``.
"""

from __future__ import annotations

import json
import signal
import time
import typing as t

import pytest

from benchmarks.topology import Topology
from benchmarks.topology_figures import figures, lb_log
from benchmarks.topology_load import Load, load
from benchmarks.topology_nginx import FAIL_TIMEOUT

from .conftest import ROOT

pytestmark = pytest.mark.e2e

REPORT = ROOT / "test-artifacts" / "topology-runs.json"
#: The fault runs: small, to keep the suite fast; the fault comes after a third.
CLIENTS, LOGINS = 20, 6
FAULT_AFTER = CLIENTS * LOGINS // 3
THINK = 0.1  # seconds on the page after a login, logged in: what a restart can lose


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[Topology]:
    with Topology(tmp_path_factory.mktemp("topology")) as topology:
        load(topology, clients=12, logins_per_client=1, run="warm")  # pools, templates
        yield topology


@pytest.fixture
def site(topology: Topology) -> Topology:
    """The topology with empty tables and no sessions."""
    topology.clear()
    return topology


def record(report: dict[str, t.Any]) -> None:
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    runs = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    runs[report["run"]] = report
    REPORT.write_text(json.dumps(runs, indent=2, ensure_ascii=False))
    print(json.dumps(report, indent=2, ensure_ascii=False))


def assert_nothing_lost(report: dict[str, t.Any], clients: int) -> None:
    """One user and one token row per person, each token usable, none lost."""
    assert report["users"] == report["distinct_nicknames"] == clients
    assert report["token_rows"] == clients
    assert report["users_without_token_row"] == report["token_rows_without_user"] == 0
    assert report["stored_tokens_usable"] == clients
    assert report["final_api_calls_ok"] == clients
    assert report["logins_lost"] == 0


def fault_run(site: Topology, run: str, fault: t.Callable[[], None]) -> Load:
    """One fault run: CLIENTS x LOGINS logins, ``fault`` a third of the way in."""
    return load(
        site,
        clients=CLIENTS,
        logins_per_client=LOGINS,
        run=run,
        fault=fault,
        fault_after=FAULT_AFTER,
        think=THINK,
    )


def test_500_logins_from_50_clients_across_three_hosts(site: Topology) -> None:
    # Every second login's start, callback and next page are sent to three
    # different hosts (nginx's X-Upstream map); the others go round robin.
    result = load(site, clients=50, logins_per_client=10, run="load", pin_every=2)
    report = figures("load", result, site)
    record(report)
    assert result.completed == 500
    assert result.failed_attempts == 0
    assert set(report["responses_by_status"]) <= {200, 302}
    assert_nothing_lost(report, 50)
    assert report["logins_logged"] == 500  # every step of every login in the hosts' logs
    # The hosts' logs show each pinned login where it was sent, and at least
    # a third of all logins with start, callback and next page on three hosts.
    assert report["pinned_logins"] == report["pinned_logins_on_their_hosts"] == 250
    assert report["all_three_on_different_hosts"] >= 500 / 3
    assert report["each_step_on_another_host"] >= report["all_three_on_different_hosts"]
    assert min(report["requests_per_host"].values()) > 0


def test_an_app_host_killed_and_started_again(site: Topology) -> None:
    victim = site.hosts[1]
    killed_at: list[float] = []

    def kill() -> None:
        victim.signal(signal.SIGKILL)
        killed_at.append(time.monotonic())
        time.sleep(0.5)
        victim.start()

    result = fault_run(site, "kill", kill)
    report = figures("a: app host SIGKILLed", result, site)
    record(report)
    assert killed_at and result.completed == CLIENTS * LOGINS
    assert report["sessions_lost_asked_to_log_in_again"] == 0  # sessions are in Redis
    assert_nothing_lost(report, CLIENTS)
    # Only requests in flight on the killed host failed: each failed attempt
    # ended at a request nginx had sent there, and no client failed twice
    # (it had one request in flight at the kill).
    tried = {step: upstreams for step, _, upstreams in lb_log(site)}
    victim_address = f"{victim.address}:{victim.port}"
    for step in result.failed_requests:
        assert victim_address in tried[step], (step, tried[step])
    clients = [step.split(".", 1)[0] for step in result.failed_requests]
    assert len(clients) == len(set(clients)), clients
    allowed = {
        "nginx: no host answered",
        "code spent: the login's 400 page",
        "cut off (no response)",
        # The dead host finished the login and renewed the session id before
        # its answer got out; nginx re-sent the callback with the old id.
        "state lost: the login's 400 page",
    }
    assert set(result.causes) <= allowed, result.causes
    assert 500 not in result.responses
    time.sleep(FAIL_TIMEOUT)  # nginx takes the host back: the next run has all three


def test_redis_restarted_without_persistence(site: Topology) -> None:
    result = fault_run(site, "redis", site.restart_redis)
    report = figures("b: Redis restarted, no persistence", result, site, sessions_may_go=True)
    record(report)
    assert result.completed == CLIENTS * LOGINS
    # Logins in progress end on the extension's page (the state is gone),
    # never a 5xx; logged-in users are sent to log in again; the database
    # keeps everything.
    assert all(status < 500 for status in result.responses)
    assert set(result.causes) <= {"state lost: the login's 400 page"}, result.causes
    # Failed: callbacks whose state was lost, and first visits after a login
    # whose session was lost (sent to log in again, as at a later visit).
    assert set(result.failed_steps) <= {"callback", "next"}, result.failed_steps
    assert report["sessions_lost_asked_to_log_in_again"] >= result.failed_steps["next"]
    assert report["sessions_lost_asked_to_log_in_again"] > 0
    assert_nothing_lost(report, CLIENTS)


def test_redis_restarted_with_persistence(site: Topology) -> None:
    site.restart_redis(persistent=True)
    site.clear()
    try:
        result = fault_run(site, "aof", site.restart_redis)
    finally:
        site.restart_redis(persistent=False)
    report = figures("b: Redis restarted, append-only file", result, site)
    record(report)
    assert result.completed == CLIENTS * LOGINS
    assert result.failed_attempts == 0  # every session, pending logins too, survived
    assert report["sessions_lost_asked_to_log_in_again"] == 0
    assert_nothing_lost(report, CLIENTS)


def test_postgres_stopped_for_5_seconds(site: Topology) -> None:
    back_at: list[float] = []

    def outage() -> None:
        site.postgres.stop()
        time.sleep(5)
        site.postgres.start()
        back_at.append(time.monotonic())

    result = fault_run(site, "pg", outage)
    report = figures("c: PostgreSQL stopped 5 s", result, site)
    first_after = min(at for at in result.completed_at if at > back_at[0]) - back_at[0]
    report["first_login_after_database_back_s"] = round(first_after, 2)
    record(report)
    assert result.completed == CLIENTS * LOGINS
    # Callbacks meanwhile answer the login's 503 page ("try again"), other
    # pages the site's; never a 500; nothing half-written.
    assert set(result.responses) <= {200, 302, 503}
    assert result.causes["database down: the login's 503 page"] > 0
    assert set(result.causes) <= {
        "database down: the login's 503 page",
        "database down: the site's 503 page",
    }, result.causes
    assert_nothing_lost(report, CLIENTS)
    assert first_after < 5  # logins succeed again as soon as it is back
