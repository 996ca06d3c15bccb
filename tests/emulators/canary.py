"""A loopback canary: a TCP server that counts every connection made to it and answers nothing.

SSRF tests point result URLs at it (https://127.0.0.1:<port>/..., its other spellings, redirects
to it): any connection at all, TLS or not, is counted, so `canary.connections == 0` proves the
client never reached it.
"""

from __future__ import annotations

import socket
import threading


class Canary:
    def __init__(self, host: str = "127.0.0.1"):
        self.host = host
        self.connections = 0
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()

    def __enter__(self) -> "Canary":
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, 0))
        self._sock.listen(64)
        threading.Thread(target=self._serve, name="canary", daemon=True).start()
        return self

    @property
    def port(self) -> int:
        assert self._sock is not None
        return self._sock.getsockname()[1]

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            with self._lock:
                self.connections += 1
            conn.close()

    def __exit__(self, *exc) -> None:
        if self._sock is not None:
            self._sock.close()
