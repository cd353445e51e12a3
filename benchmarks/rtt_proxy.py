"""A TCP proxy on loopback that adds network round trips.

Every chunk is delivered half an RTT after it was read, in each direction,
and a new connection's first chunk waits one RTT more: the TCP handshake.
So a fresh connection costs what it costs on a network (TCP, then TLS,
then the request), and a reused one costs one RTT per request. It counts
the connections it accepts and the TLS ClientHellos it carries.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import socket
import threading
import time
import typing as t
from dataclasses import dataclass


@dataclass
class Counters:
    """Shared with the process that started the proxy."""

    connections: t.Any  # multiprocessing.Value("l")
    client_hellos: t.Any


def _is_client_hello(chunk: bytes) -> bool:
    # A TLS record of type handshake (0x16) whose first message is ClientHello (1).
    return len(chunk) > 5 and chunk[0] == 0x16 and chunk[5] == 0x01


def _pump(
    source: socket.socket,
    sink: socket.socket,
    delay: float,
    first_extra: float,
    counters: Counters | None,
) -> None:
    """Copy ``source`` to ``sink``, each chunk ``delay`` seconds after it was read.

    A reader and a writer thread, with ``time.sleep`` between them: finer
    than an event loop's millisecond timers, which would add their own lag.
    """
    chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()

    def write() -> None:
        while True:
            due, chunk = chunks.get()
            if not chunk:
                break
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            try:
                sink.sendall(chunk)
            except OSError:
                break
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    extra = first_extra
    while True:
        try:
            chunk = source.recv(65536)
        except OSError:
            chunk = b""
        if counters is not None and _is_client_hello(chunk):
            with counters.client_hellos.get_lock():
                counters.client_hellos.value += 1
        chunks.put((time.monotonic() + delay + extra, chunk))
        extra = 0.0
        if not chunk:
            break
    writer.join()


def _connection(
    client: socket.socket, target: tuple[str, int], rtt: float, counters: Counters
) -> None:
    with client, socket.create_connection(target) as upstream:
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        back = threading.Thread(target=_pump, args=(upstream, client, rtt / 2, 0.0, None))
        back.start()
        # The client's first chunk also waits out the TCP handshake: one RTT.
        _pump(client, upstream, rtt / 2, rtt, counters)
        back.join()


def _run(sock: socket.socket, target: tuple[str, int], rtt: float, counters: Counters) -> None:
    while True:
        client, _ = sock.accept()
        with counters.connections.get_lock():
            counters.connections.value += 1
        threading.Thread(
            target=_connection, args=(client, target, rtt, counters), daemon=True
        ).start()


class RTTProxy:
    """The proxy in a process of its own; ``port`` is where to connect."""

    def __init__(self, target: tuple[str, int], rtt: float) -> None:
        context = multiprocessing.get_context("spawn")
        self.counters = Counters(context.Value("l", 0), context.Value("l", 0))
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.rtt = rtt
        self._process = context.Process(
            target=_run, args=(self._sock, target, rtt, self.counters), daemon=True
        )
        self._process.start()

    @property
    def connections(self) -> int:
        return int(self.counters.connections.value)

    @property
    def client_hellos(self) -> int:
        return int(self.counters.client_hellos.value)

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(5)
        self._sock.close()
