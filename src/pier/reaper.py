"""Directory removal behind the caller: a removed container's or snapshot's directory
is renamed out of the way at once and deleted by a thread of its own.

Why: deleting even a small tree costs tens of unlink/rmdir calls whose time grows with
the disk's other work (2-12 ms for a `run --rm` container's layer and directory here,
more under load), and nothing after a removal needs the space back at once: containerd
removes snapshots in its garbage collector for the same reason. The rename is one
system call inside the data root's file system; the trash directory is the daemon's
`tmp/`, which every start empties before anything else, so a crash loses nothing.
"""

from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)


class DirectoryReaper:
    def __init__(self, trash: Path) -> None:
        trash.mkdir(mode=0o700, exist_ok=True)
        self._trash = trash
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reaper")

    def discard(self, path: Path) -> None:
        """Take `path` away now (absent is fine) and delete it soon."""
        target = self._trash / secrets.token_hex(8)
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            remove_tree(path)  # another file system (a mount in the data root): here
            return
        self._pool.submit(_remove_logged, target)

    def close(self) -> None:
        """Wait for the deletions queued so far."""
        self._pool.shutdown(wait=True)


def _remove_logged(path: Path) -> None:
    try:
        remove_tree(path)
    except OSError as exc:  # left for the next start, which empties the trash
        log.warning("removing %s: %s", path, exc)


def remove_tree(path: Path, attempts: int = 20) -> None:
    """Delete a tree; absent is fine. A monitor still exiting can write into a
    container's directory while it is deleted (ENOTEMPTY, about once in 250 kills
    followed by `rm -f`): what it added is taken again."""
    for attempt in range(attempts):
        try:
            shutil.rmtree(path)
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.ENOTEMPTY or attempt == attempts - 1:
                raise
            time.sleep(0.05)  # in a worker thread: give the monitor time to finish
