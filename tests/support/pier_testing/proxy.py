"""A TCP proxy in front of a registry that misbehaves on purpose: it cuts the first
response carrying a blob after `cut_after` bytes (the connection drops mid-download),
or slows blob responses down to `rate` bytes/s so a test can act while one is under
way. It records the request heads it forwarded."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FaultyProxy:
    def __init__(self, upstream: tuple[str, int], *, cut_after: int = 0, rate: int = 0) -> None:
        self.upstream = upstream
        self.cut_after = cut_after
        self.rate = rate
        self.requests: list[str] = []
        self.cuts = 0
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(32)
        self.port = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._accept = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> FaultyProxy:
        self._accept.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        # shutdown() wakes the accept() blocked in the other thread; close() alone does not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._accept.join(10)
        # Idle keep-alive connections would hold their threads: end them.
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(10)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            t = threading.Thread(target=self._handle, args=(client,), daemon=True)
            self._threads.append(t)
            t.start()

    def _handle(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.upstream)
        with self._lock:
            self._sockets += [client, upstream]
        state = {"blob": False}

        def requests() -> None:
            with contextlib.suppress(OSError):
                while data := client.recv(65536):
                    head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
                    if head[:4] in ("GET ", "HEAD", "PUT ", "POST", "PATC"):
                        with self._lock:
                            self.requests.append(head)
                        state["blob"] = head.startswith("GET ") and "/blobs/sha256:" in head
                    upstream.sendall(data)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_WR)

        reader = threading.Thread(target=requests, daemon=True)
        reader.start()
        sent = 0
        try:
            while data := upstream.recv(65536):
                cut = self.cut_after and not self.cuts and sent + len(data) > self.cut_after
                if state["blob"] and cut:
                    client.sendall(data[: self.cut_after - sent])
                    with self._lock:
                        self.cuts += 1
                    break
                if state["blob"] and self.rate:
                    for i in range(0, len(data), 8192):
                        if self._stop.is_set():
                            return
                        client.sendall(data[i : i + 8192])
                        time.sleep(8192 / self.rate)
                else:
                    client.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (client, upstream):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            reader.join(10)
