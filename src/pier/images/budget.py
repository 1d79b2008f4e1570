"""What one upload may still write: the daemon's `max-unpack-size`, shared by the
layers of one import, load or pull, which are unpacked concurrently."""

from __future__ import annotations

import threading

from pier.errors import InvalidParameter


class Budget:
    """Bytes of file data an upload may write; `spend` refuses past it with the layer
    applier's 400. A load or pull of many layers each under the bound must not write
    many times it: the bound is the upload's, not each layer's."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._spent = 0
        self._lock = threading.Lock()  # the layers' appliers run in threads

    def spend(self, size: int, name: str) -> None:
        with self._lock:
            self._spent += size
            over = self._spent > self._limit
        if over:
            raise InvalidParameter(
                f"invalid layer tar: {name!r} takes the upload past the daemon's "
                f"max-unpack-size ({self._limit} bytes)"
            )
