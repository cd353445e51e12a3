"""One lock for every process and host of the site, held in ``WECHAT_WEB_STORE``.

What must happen once for all (the server token's fetch, a push acted on,
a scene or a code spent) is decided under :func:`store_lock`. cachelib's
``add`` is atomic on Redis and Memcached (SET NX) but a check then a write
on ``FileSystemCache``, where two cold starts would both win: there the
lock is a file created with ``O_EXCL`` in the cache's folder. Its name ends
as cachelib's own temporary files do, which ``clear`` and the pruning leave
alone. A lock left by a crashed process is broken once older than
``hold_for``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
import typing as t

from cachelib import FileSystemCache

from .errors import WeChatUnavailableError

if t.TYPE_CHECKING:
    from .state import WeChatWebState

#: How often a process waiting on another's lock looks again.
POLL = 0.02


class StoreLock:
    """A named lock in the store, or beside it for a ``FileSystemCache``."""

    def __init__(self, state: WeChatWebState, name: str, hold_for: float) -> None:
        self.state = state
        self.key = f"wechat_web:lock:{name}"
        self.hold_for = hold_for
        self.owner = secrets.token_hex(8)
        self.path: str | None = None

    def acquire(self) -> bool:
        """Take it if free (or broken as stale); never waits."""
        with self.state.store_calls() as store:
            if isinstance(store, FileSystemCache):
                self.path = os.path.join(store._path, f"{self.key.replace(':', '-')}.__wz_cache")
                return self._create_file(self.path)
            return bool(store.add(self.key, self.owner, timeout=int(self.hold_for) + 1))

    def _create_file(self, path: str) -> bool:
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            return True
        except FileExistsError:
            pass
        try:
            if time.time() - os.stat(path).st_mtime > self.hold_for:
                os.unlink(path)  # its holder died holding it
        except FileNotFoundError:
            pass  # released meanwhile: the next turn takes it
        return False

    def release(self) -> None:
        with self.state.store_calls() as store:
            if self.path is not None:
                with contextlib.suppress(FileNotFoundError):  # broken as stale meanwhile
                    os.unlink(self.path)
            elif store.get(self.key) == self.owner:
                store.delete(self.key)


@contextlib.contextmanager
def store_lock(
    state: WeChatWebState, name: str, *, hold_for: float = 5.0, wait: float | None = None
) -> t.Iterator[None]:
    """Hold lock ``name`` for the block, waiting for it up to ``wait`` seconds.

    ``hold_for`` bounds the block's own time: a holder that died is presumed
    so after it. ``wait`` defaults to twice ``hold_for``, long enough to
    break such a lock; past it, a :class:`WeChatUnavailableError`.
    """
    lock = StoreLock(state, name, hold_for)
    deadline = time.monotonic() + (2 * hold_for if wait is None else wait)
    while not lock.acquire():
        if time.monotonic() > deadline:
            raise WeChatUnavailableError(
                "The site is busy finishing the same step in another process. Try again."
            )
        time.sleep(POLL)
    try:
        yield
    finally:
        lock.release()


def add_once(state: WeChatWebState, key: str, value: t.Any, timeout: int) -> bool:
    """Store ``value`` at ``key`` unless something is there; whether it was stored.

    Atomic on every store: ``add`` itself where the store makes it atomic, a
    :func:`store_lock` around it on a ``FileSystemCache``.
    """
    with state.store_calls() as store:
        atomic = not isinstance(store, FileSystemCache)
        if atomic:
            return bool(store.add(key, value, timeout=timeout))
    with store_lock(state, key), state.store_calls() as store:
        return bool(store.add(key, value, timeout=timeout))
