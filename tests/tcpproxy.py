"""A loopback TCP proxy that can refuse or freeze traffic: the network faults a test needs, between a real
client and a real server, without stopping the server other tests share.

- `refuse()`: open connections are closed and new ones are closed at once (a server that is down).
- `freeze()`: connections stay open but no byte moves either way (a half-open socket, a hung server).
- `restore()`: traffic flows again; frozen connections go on where they stopped.
"""

from __future__ import annotations

import contextlib
import enum
import select
import socket
import threading
from types import TracebackType


class Mode(enum.Enum):
    FLOW = "flow"
    FROZEN = "frozen"
    REFUSED = "refused"


class Proxy:
    def __init__(
        self, upstream_port: int, upstream_host: str = "127.0.0.1", listen: tuple[str, int] = ("127.0.0.1", 0)
    ) -> None:
        self._upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(listen)
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self.mode = Mode.FLOW
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    def __enter__(self) -> Proxy:
        self._acceptor.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self._closed.set()
        self._close_all()
        self._acceptor.join(timeout=5)
        self._listener.close()

    def refuse(self) -> None:
        self.mode = Mode.REFUSED
        self._close_all()

    def freeze(self) -> None:
        self.mode = Mode.FROZEN

    def restore(self) -> None:
        self.mode = Mode.FLOW

    def _close_all(self) -> None:
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._sockets.clear()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self.mode is Mode.REFUSED:
                client.close()
                continue
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), name="proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while not self._closed.is_set() and self.mode is not Mode.REFUSED:
                if self.mode is Mode.FROZEN:
                    self._closed.wait(0.05)
                    continue
                readable, _, _ = select.select([source], [], [], 0.1)
                if not readable:
                    continue
                data = source.recv(65536)
                if not data:
                    return
                sink.sendall(data)
        except (OSError, ValueError):  # ValueError: the other pump closed the pair under this one's select
            return
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._sockets.discard(sock)
                with contextlib.suppress(OSError):
                    sock.close()
