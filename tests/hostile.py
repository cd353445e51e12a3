"""A raw-socket HTTP server on loopback that answers as badly as a test asks."""

from __future__ import annotations

import socket
import threading
import time
import typing as t

#: ``answer(conn, head)`` writes the whole answer to one request.
Answer = t.Callable[[socket.socket, bytes], None]


def response(body: bytes, *headers: str, status: str = "200 OK") -> bytes:
    """A keep-alive HTTP/1.1 answer with ``body`` and WeChat's ``text/plain``."""
    lines = [
        f"HTTP/1.1 {status}",
        "Content-Type: text/plain",
        f"Content-Length: {len(body)}",
        *headers,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def send(data: bytes) -> Answer:
    return lambda conn, head: conn.sendall(data)


def drip(data: bytes, every: float = 0.2) -> Answer:
    """Send ``data`` one byte every ``every`` seconds, then keep dripping spaces."""

    def answer(conn: socket.socket, head: bytes) -> None:
        for i in range(len(data)):
            conn.sendall(data[i : i + 1])
            time.sleep(every)
        while True:
            conn.sendall(b" ")
            time.sleep(every)

    return answer


class HostileServer:
    """Accepts connections on a free loopback port; ``answer`` speaks for it.

    ``heads`` are the request heads received; ``unsent`` counts the answers
    the client stopped reading before they were all sent.
    """

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.heads: list[bytes] = []
        self.unsent = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self._conns: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        try:
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                self.heads.append(head)
                try:
                    self.answer(conn, head)
                except OSError:
                    self.unsent += 1
                    return
        except OSError:
            return

    def drop_connections(self) -> None:
        """Hang up on every client, as a server closing idle keep-alives does."""
        for conn in self._conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self.drop_connections()
        for conn in self._conns:
            conn.close()
        self._accepting.join(5)
        for thread in self._threads:
            thread.join(5)
