"""The figures of a three-host run, from what the clients saw and what was left behind.

:func:`figures` is a run's report for ``tests/e2e/test_topology.py``: the
clients' counts, the database's rows, the hosts' and nginx's access logs;
:func:`cpu_per_login` and :func:`format_row` make ``make bench``'s row.
"""

from __future__ import annotations

import statistics
import typing as t

from .topology_load import Load
from .topology_servers import RTT

if t.TYPE_CHECKING:
    from .topology import Topology


def hops(topology: Topology, pinned: dict[str, tuple[str, ...]]) -> dict[str, t.Any]:
    """From the hosts' access logs: where each login's steps landed.

    ``pinned``: the hosts each pinned login was sent to; counted when the
    logs show all three steps there.
    """
    where: dict[str, dict[str, str]] = {}
    per_host = {}
    for host in topology.hosts:
        steps = host.steps()
        per_host[host.address] = len(steps)
        for step in steps:
            login, _, name = step.rpartition(".")
            where.setdefault(login, {})[name] = host.address
    logins = [w for w in where.values() if {"start", "callback", "next"} <= w.keys()]
    three = sum(len({w["start"], w["callback"], w["next"]}) == 3 for w in logins)
    moved = sum(w["start"] != w["callback"] != w["next"] for w in logins)
    steps = ("start", "callback", "next")
    landed = sum(
        tuple(where.get(login, {}).get(step) for step in steps) == hosts
        for login, hosts in pinned.items()
    )
    return {
        "logins_logged": len(logins),
        "all_three_on_different_hosts": three,
        "each_step_on_another_host": moved,
        "pinned_logins": len(pinned),
        "pinned_logins_on_their_hosts": landed,
        "requests_per_host": per_host,
    }


def lb_log(topology: Topology) -> list[tuple[str, int, str]]:
    """nginx's access log: (``X-Load``, status, the upstream addresses it tried)."""
    lines = []
    for line in topology.nginx.access_log.read_text().splitlines():
        step, status, upstreams = line.split("|")
        lines.append((step, int(status), upstreams))
    return lines


def figures(
    name: str, result: Load, topology: Topology, *, sessions_may_go: bool = False
) -> dict[str, t.Any]:
    """The run's report: what the clients saw, what the logs and the database hold."""
    two_rtt = 2 * RTT
    latencies = sorted(result.callback_seconds)
    rows = topology.rows()
    report = {
        "run": name,
        "clients": result.clients,
        "seconds": round(result.seconds, 2),
        "requests": result.requests,
        "responses_by_status": dict(sorted(result.responses.items())),
        "5xx_and_failed_callbacks_by_cause": dict(result.causes),
        "failed_attempts_by_step": dict(result.failed_steps),
        "logins_completed": result.completed,
        "logins_per_second": round(result.completed / result.seconds, 1),
        "callback_p50_x_2rtt": round(statistics.median(latencies) / two_rtt, 2),
        "callback_p99_x_2rtt": round(latencies[int(0.99 * (len(latencies) - 1))] / two_rtt, 2),
        "sessions_lost_asked_to_log_in_again": result.sessions_lost,
        "final_api_calls_ok": result.final_api_ok,
        **{key: value for key, value in rows.items() if key != "tokens"},
        "stored_tokens_usable": sum(topology.token_works(*token) for token in rows["tokens"]),
        **hops(topology, result.pinned),
    }
    # A completed login is lost when its user has no token row, its client's
    # last login no longer works for an API call, or its session was gone at
    # the next visit, unless the run lets Redis lose sessions by design:
    # those users were asked to log in again, and are counted apart.
    report["logins_lost"] = (
        result.clients
        - min(rows["token_rows"], result.final_api_ok)
        + (0 if sessions_may_go else result.sessions_lost)
    )
    return report


def cpu_per_login(topology: Topology, result: Load, before: list[float]) -> dict[str, float]:
    """Milliseconds of CPU each host spent per login of the run."""
    return {
        host.address: round((host.cpu_seconds() - cpu) / result.completed * 1000, 2)
        for host, cpu in zip(topology.hosts, before, strict=True)
    }


def format_row(row: dict[str, t.Any]) -> str:
    """The row: each host's CPU is per login of the whole run (they add up to the site's)."""
    per_host = row["cpu_ms_per_login_per_host"]
    cpu = ", ".join(f"{host} {ms:.2f}" for host, ms in per_host.items())
    return (
        f"three hosts (nginx, Redis sessions, PostgreSQL), RTT {RTT * 1000:.0f} ms, "
        f"{row['clients']} clients: {row['logins_per_s']:.1f} login/s, "
        f"p50 {row['p50_ms']:.1f} ms ({row['p50_x_2rtt']:.2f}x 2RTT), "
        f"p99 {row['p99_ms']:.1f} ms ({row['p99_x_2rtt']:.2f}x 2RTT); "
        f"CPU ms per login: {cpu}; all hosts {sum(per_host.values()):.2f}"
    )
