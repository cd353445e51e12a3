"""The transport to WeChat: one pooled, bounded connection per app and process.

Apart from WeChat's OAuth dialect (``client``): the shared adapter that
outlives the sessions Authlib closes after every call, the pool made lazily
in each process, and the filter that keeps ``secret=``, codes and tokens out
of requests' and urllib3's own log lines.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import typing as t
import weakref
from pathlib import Path
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import BaseAdapter
from requests.utils import select_proxy
from urllib3.util.retry import Retry

from .bounds import BoundedAdapter

#: A secret as a query parameter (``js_code=``: ``\bcode=`` misses it) or a JSON field.
_SECRET_PARAM = re.compile(
    r"\b(secret|js_code|code|access_token|refresh_token|session_key)"
    r"(=|\"\s*:\s*\")[^&\s\"']*"
)


@functools.cache
def _library_loggers() -> list[str]:
    """Every logger of urllib3 and requests, whether its module is imported yet.

    Any of them may print a request URL, and so WeChat's ``secret=`` query:
    urllib3 logs request lines at DEBUG, retries and malformed headers (with
    the URL) at WARNING. A filter on a parent logger does not see its
    children's records, so each one gets its own.
    """
    names = set()
    for package in (requests, urllib3):
        root = Path(package.__file__ or "").parent
        for path in root.rglob("*.py"):
            parts = path.relative_to(root.parent).with_suffix("").parts
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return sorted(names)


class _ScrubSecrets(logging.Filter):
    """Blanks ``secret=``, ``code=``, ``js_code=``, token and session key values in log lines.

    The message and any traceback attached to it are both scrubbed.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = _SECRET_PARAM.sub(r"\1\2***", message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        if record.exc_info:
            trace = logging.Formatter().formatException(record.exc_info)
            scrubbed = _SECRET_PARAM.sub(r"\1\2***", trace)
            if scrubbed != trace:  # only then: error trackers want exc_info
                record.exc_info, record.exc_text = None, scrubbed
        return True


def install_log_scrubber() -> None:
    """Add the scrubbing filter to every urllib3 and requests logger, once."""
    for name in _library_loggers():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ScrubSecrets) for f in logger.filters):
            logger.addFilter(_ScrubSecrets())


class _SharedAdapter(BoundedAdapter):
    """An adapter whose pool outlives the sessions Authlib closes after every call."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools: dict[tuple[t.Any, ...], t.Any] = {}
        self._checked: weakref.WeakSet[t.Any] = weakref.WeakSet()

    def close(self) -> None:
        """Ignore: Authlib closes its session after every call."""

    def dispose(self) -> None:
        super().close()

    def get_connection_with_tls_context(
        self,
        request: requests.PreparedRequest,
        verify: t.Any,
        proxies: t.Mapping[str, str] | None = None,
        cert: t.Any = None,
    ) -> t.Any:
        """The urllib3 pool for the request's host, looked up once per host and settings.

        requests rebuilds the pool key on every call (parsing the URL, an
        ``os.path.isdir`` on the CA path) and urllib3 normalises it again,
        for an answer that cannot change: this adapter lives one process,
        and a call goes to one of WeChat's few hosts with the settings read
        once from the environment. A pool urllib3 has since closed (evicted
        from its few slots) is looked up afresh.
        """
        url = request.url or ""
        scheme, host = urlsplit(url)[:2]
        key = (scheme, host, verify, cert, select_proxy(url, proxies) if proxies else None)
        pool = self._pools.get(key)
        if pool is None or pool.pool is None:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            self._pools[key] = pool
        return pool

    def cert_verify(self, conn: t.Any, url: str, verify: t.Any, cert: t.Any) -> None:
        """Check the CA path and set the pool's TLS attributes once per pool.

        requests asks the disk (``os.path.exists``, ``os.path.isdir``) and
        sets the same attributes on every call. A urllib3 pool is keyed by
        these TLS settings, so they never change for it.
        """
        if conn not in self._checked:
            super().cert_verify(conn, url, verify, cert)  # type: ignore[no-untyped-call]
            self._checked.add(conn)


class ConnectionPool:
    """The keep-alive connections of one app to WeChat, made lazily per process.

    Created on first use in each process, so gunicorn workers never share a
    socket inherited over ``fork``. Extra adapters (the in-process fake, the
    sandbox) are mounted by URL prefix.
    """

    def __init__(self, maxsize: int = 16) -> None:
        self.maxsize = maxsize
        self.mounts: dict[str, BaseAdapter] = {}
        self._pid = 0
        self._adapter: _SharedAdapter | None = None
        self._environment: dict[str, dict[str, t.Any]] = {}
        self._lock = threading.Lock()

    @property
    def adapter(self) -> _SharedAdapter:
        adapter, pid = self._adapter, os.getpid()
        if adapter is None or self._pid != pid:
            with self._lock:
                if self._adapter is None or self._pid != pid:
                    # Connect errors are retried once (nothing was sent);
                    # a request that may have reached WeChat never is, or a
                    # second token call would answer 40163.
                    retry = Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0)
                    self._adapter = _SharedAdapter(
                        pool_connections=4, pool_maxsize=self.maxsize, max_retries=retry
                    )
                    self._environment = {}
                    self._pid = pid
                adapter = self._adapter
        return adapter

    def mount_into(self, session: requests.Session, url: str) -> None:
        """Give ``session`` the pool, and the environment's proxy and CA settings.

        requests reads ``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``
        and the like on every call, scanning ``os.environ``; they are read
        once per process and URL here instead.
        """
        adapter = self.adapter
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        for prefix, extra in self.mounts.items():
            session.mount(prefix, extra)
        if url not in self._environment:
            with requests.Session() as probe:
                merged = probe.merge_environment_settings(url, {}, None, None, None)
            self._environment[url] = dict(merged)
        settings = self._environment[url]
        session.trust_env = False
        session.proxies.update(settings["proxies"])
        session.verify = settings["verify"]

    def serves(self, session: requests.Session) -> bool:
        """Whether ``session`` still has this process's pool and every extra mount."""
        adapters = session.adapters
        return adapters.get("https://") is self.adapter and all(
            adapters.get(prefix) is extra for prefix, extra in self.mounts.items()
        )

    def close(self) -> None:
        if self._adapter is not None:
            self._adapter.dispose()
            self._adapter = None
