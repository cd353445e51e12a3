"""The login benchmark's figures: each run's ratios, the table and the plot.

``benchmarks/login.py`` measures; this module turns its rows into ratios to
the baseline and to the physical limits, and prints and draws them.
"""

from __future__ import annotations

from pathlib import Path


def ratios(results: dict[str, dict[str, float]]) -> None:
    """Add each figure's ratio to the baseline and to the physical limit."""
    base = results["baseline"]
    for row in results.values():
        rtt = row["rtt_ms"]
        row["median_vs_2rtt"] = row["median_ms"] / (2 * rtt) if rtt else float("nan")
        row["median_vs_1rtt"] = row["median_ms"] / rtt if rtt else float("nan")
        row["median_vs_rig_floor"] = row["median_ms"] / (
            row["calls_per_login"] * row["rig_call_ms"]
        )
        row["speedup_vs_baseline"] = base["median_ms"] / row["median_ms"]
        row["cpu_vs_baseline"] = row["cpu_ms_per_login"] / base["cpu_ms_per_login"]
        row["request_cpu_vs_baseline"] = (
            row["request_cpu_ms_per_login"] / base["request_cpu_ms_per_login"]
        )
        row["logins_per_s_vs_baseline"] = row["logins_per_s"] / base["logins_per_s"]
        row["concurrent_vs_baseline"] = (
            row["logins_per_s_concurrent"] / base["logins_per_s_concurrent"]
        )


COLUMNS = [
    ("site", "{}"),
    ("RTT ms", "{:.0f}"),
    ("login/s", "{:.1f}"),
    ("x base", "{:.2f}"),
    ("login/s 8c", "{:.1f}"),
    ("x base", "{:.2f}"),
    ("median ms", "{:.1f}"),
    ("p99 ms", "{:.1f}"),
    ("x 2RTT", "{:.2f}"),
    ("x 1RTT", "{:.2f}"),
    ("x rig", "{:.2f}"),
    ("faster", "{:.2f}x"),
    ("CPU ms", "{:.2f}"),
    ("CPU x base", "{:.2f}"),
    ("req CPU ms", "{:.2f}"),
    ("x base", "{:.2f}"),
    ("conn/login", "{:.2f}"),
    ("TLS/login", "{:.2f}"),
    ("calls/login", "{:.2f}"),
]
KEYS = [
    "rtt_ms",
    "logins_per_s",
    "logins_per_s_vs_baseline",
    "logins_per_s_concurrent",
    "concurrent_vs_baseline",
    "median_ms",
    "p99_ms",
    "median_vs_2rtt",
    "median_vs_1rtt",
    "median_vs_rig_floor",
    "speedup_vs_baseline",
    "cpu_ms_per_login",
    "cpu_vs_baseline",
    "request_cpu_ms_per_login",
    "request_cpu_vs_baseline",
    "new_connections_per_login",
    "tls_handshakes_per_login",
    "calls_per_login",
]


def table(runs: list[dict[str, dict[str, float]]]) -> str:
    rows = [[title for title, _ in COLUMNS]]
    for results in runs:
        for name, row in results.items():
            cells = [name] + [COLUMNS[i + 1][1].format(row[key]) for i, key in enumerate(KEYS)]
            rows.append(cells)
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    return "\n".join(
        "  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows
    )


def plot(runs: list[dict[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    rtts = [results["ours"]["rtt_ms"] for results in runs]
    for name, style in (("baseline", "o-"), ("ours", "s-"), ("returning", "^-")):
        ax.plot(rtts, [r[name]["median_ms"] for r in runs], style, label=name)
    ax.plot(rtts, [2 * rtt for rtt in rtts], "k--", linewidth=1, label="limit: 2 RTT")
    ax.plot(rtts, list(rtts), "k:", linewidth=1, label="1 RTT")
    ax.set_xlabel("round-trip time to WeChat (ms)")
    ax.set_ylabel("median callback latency (ms)")
    ax.set_title("WeChat login callback over TLS")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
