"""The fake WeChat over real loopback HTTP(S), with keep-alive, as WeChat serves.

Werkzeug's development server closes every connection, so it cannot show a
client reusing its connections; cheroot keeps them alive (with TCP_NODELAY)
and counts the connections it accepts.
"""

from __future__ import annotations

import logging
import threading
import typing as t

try:
    import cheroot  # noqa: F401  (the "testing" extra)
except ImportError as exc:
    raise ImportError(
        "FakeWeChatServer needs cheroot: pip install 'Flask-WeChat-Web[testing]'"
    ) from exc
from cheroot import wsgi
from cheroot.server import HTTPConnection
from cheroot.ssl.builtin import BuiltinSSLAdapter

if t.TYPE_CHECKING:
    from types import TracebackType

    from _typeshed.wsgi import WSGIApplication

    from .fake import FakeWeChat

__all__ = ["FakeWeChatServer"]

logger = logging.getLogger(__name__)

_START_DEADLINE = 10.0
#: Seconds an idle keep-alive connection stays open: nginx's default, as API
#: front ends commonly keep it (cheroot's own default, 10 s, is shorter).
KEEPALIVE_TIMEOUT = 75


class _Connection(HTTPConnection):
    """A connection that closes its write buffer when it closes.

    cheroot closes the read side and the socket but leaves the buffered
    writer to the garbage collector, whose flush of a leftover error answer
    into the closed TLS socket then fails in a finalizer (an unraisable
    ``OSError: Bad file descriptor``, seen on Python 3.13).
    """

    def close(self) -> None:
        try:
            self.wfile.close()  # flushes what is left while the socket is open
        except OSError:
            pass  # the peer is gone: the leftover answer has nowhere to go
        super().close()


class _Server(wsgi.Server):
    """cheroot, logging to ``logging`` at DEBUG instead of printing to stderr."""

    ConnectionClass = _Connection

    #: cheroot answers ``Connection: close`` once 10 idle keep-alive
    #: connections are open; WeChat serves many clients' pools at once.
    keep_alive_conn_limit = 1000

    def error_log(self, msg: str = "", level: int = 20, traceback: bool = False) -> None:
        logger.debug("%s", msg, exc_info=traceback)


class _HandshakeInWorkers(BuiltinSSLAdapter):
    """TLS whose handshake happens on the first read, in a worker thread.

    cheroot's adapter completes each handshake in its single accept loop, so
    over a slow link (the benchmark's RTT proxy) it admits about one new
    connection per round trip, and clients that open many queue behind it.
    """

    def wrap(self, sock: t.Any) -> tuple[t.Any, dict[str, str]]:
        wrapped = self.context.wrap_socket(sock, do_handshake_on_connect=False, server_side=True)
        return wrapped, {"wsgi.url_scheme": "https", "HTTPS": "on"}


class _Host:
    """One cheroot server in a daemon thread (so its workers are daemons too)."""

    def __init__(
        self,
        app: WSGIApplication,
        host: str,
        port: int,
        threads: int,
        certfile: str | None,
        keyfile: str | None,
    ) -> None:
        self.server = _Server(
            (host, port), app, numthreads=threads, shutdown_timeout=1, timeout=KEEPALIVE_TIMEOUT
        )
        self.server.stats["Enabled"] = True
        self.server.expiration_interval = 0.05  # how long stop() waits for the loop
        if certfile:
            self.server.ssl_adapter = _HandshakeInWorkers(certfile, keyfile or certfile)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        if not self._ready.wait(_START_DEADLINE):
            raise RuntimeError(f"fake WeChat server did not start in {_START_DEADLINE}s")
        if self._error is not None:
            raise RuntimeError("fake WeChat server failed to start") from self._error
        self.port: int = self.server.bind_addr[1]
        self._accepts_before = 0

    def _run(self) -> None:
        try:
            self.server.prepare()  # bound and listening from here on
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.server.serve()

    @property
    def connections(self) -> int:
        return int(self.server.stats["Accepts"]) - self._accepts_before

    def reset_counters(self) -> None:
        self._accepts_before = int(self.server.stats["Accepts"])

    def stop(self) -> None:
        self.server.stop()
        self._thread.join(_START_DEADLINE)
        logging.statistics.pop(f"Cheroot HTTPServer {id(self.server)}", None)  # type: ignore[attr-defined]


class FakeWeChatServer:
    """Serve a fake WeChat on two loopback ports: the open host and the API host.

    The open port serves the authorize pages, the API port the API, as
    WeChat's two hosts do (each answers 404 for the other's paths); a test
    can count the connections a client opens to the API alone. Ports are
    free ones unless given. HTTPS with ``certfile`` (and ``keyfile``, if
    the key is not in ``certfile``).
    """

    def __init__(
        self,
        fake: FakeWeChat,
        *,
        host: str = "127.0.0.1",
        certfile: str | None = None,
        keyfile: str | None = None,
        threads: int = 16,
        open_port: int = 0,
        api_port: int = 0,
    ) -> None:
        self.fake = fake
        self._open = _Host(fake.open_app, host, open_port, threads, certfile, keyfile)
        try:
            self._api = _Host(fake.api_app, host, api_port, threads, certfile, keyfile)
        except BaseException:
            self._open.stop()
            raise
        scheme = "https" if certfile else "http"
        name = f"[{host}]" if ":" in host else host
        self.open_base_url = f"{scheme}://{name}:{self._open.port}"
        self.api_base_url = f"{scheme}://{name}:{self._api.port}"

    @property
    def open_connections(self) -> int:
        """TCP connections accepted by the open host since the last reset."""
        return self._open.connections

    @property
    def api_connections(self) -> int:
        """TCP connections accepted by the API host since the last reset."""
        return self._api.connections

    def reset_counters(self) -> None:
        self._open.reset_counters()
        self._api.reset_counters()

    def stop(self) -> None:
        """Stop both servers and close their connections; safe to call twice."""
        self._api.stop()
        self._open.stop()

    def __enter__(self) -> FakeWeChatServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
