"""glibc's malloc arenas for pierd: two, not eight per core.

glibc gives each thread that allocates an arena of its own (up to eight per core) and
keeps what each arena has grown to. pierd's pool threads take turns under the GIL, so
they hardly ever contend for an arena, and two serve them as well: measured here, after
a hundred containers were started and removed, pierd kept 1-2 MiB less (docs/decisions.md,
Fast paths). A MALLOC_ARENA_MAX the user set wins.
"""

from __future__ import annotations

import ctypes
import os

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def limit() -> bool:
    """Ask glibc for at most ARENAS arenas; False where that is not glibc's malloc or
    the environment already chose."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # musl and others have no mallopt
        return False
    return bool(mallopt(_M_ARENA_MAX, ARENAS))
