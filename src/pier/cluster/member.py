"""One etcd member run and watched over by pierd.

etcd listens on UNIX sockets in its own directory under the exec root, so pierds in
other network namespaces of the host reach it by path. etcd's UNIX URLs are
`unix://name:port`, resolved relative to its working directory (absolute paths are
refused), so a member's peers appear in that directory as symlinks to their sockets.
The data directory is under the data root. If etcd dies while pierd wants it, it is
started again (with the same data it rejoins its cluster).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
from collections.abc import Mapping
from pathlib import Path

from pier.errors import SystemFailure, Unavailable

log = logging.getLogger(__name__)

# etcd's own defaults are for a network; on one host a tighter heartbeat lets a
# follower notice a dead leader sooner (DESIGN §11: writes resume ~1.5 s after a kill).
_HEARTBEAT_MS = "100"
_ELECTION_MS = "1000"


def client_name(member: str) -> str:
    return f"c-{member}:1"


def peer_name(member: str) -> str:
    return f"p-{member}:1"


def peer_url(member: str) -> str:
    return f"unix://{peer_name(member)}"


class EtcdMember:
    def __init__(
        self,
        *,
        name: str,
        socket_dir: Path,
        data_dir: Path,
        etcd_path: str = "etcd",
        compaction_retention: str = "1h",
        progress_interval: str = "10m",
    ) -> None:
        self.name = name
        # etcd's periodic mode: a duration ("1h", "2s"); revisions older go.
        self._retention = compaction_retention
        # How often an idle watch hears the store's revision (etcd's default).
        self._progress = progress_interval
        self.socket_dir = socket_dir
        self.data_dir = data_dir
        self._etcd = shutil.which(etcd_path) or etcd_path
        self._proc: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._stopping = False

    @property
    def client_socket(self) -> Path:
        return self.socket_dir / client_name(self.name)

    @property
    def peer_socket(self) -> Path:
        return self.socket_dir / peer_name(self.name)

    @property
    def client_endpoint(self) -> str:
        return f"unix://{self.client_socket}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    def link_peer(self, member: str, socket: str) -> None:
        """Make a peer's socket reachable under the name its peer URL gives."""
        if member == self.name:
            return
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        link = self.socket_dir / peer_name(member)
        if link.is_symlink() and os.readlink(link) == socket:
            return
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(socket)

    def has_data(self) -> bool:
        return (self.data_dir / "member").is_dir()

    async def start(
        self, *, initial: Mapping[str, str] | None = None, existing: bool = False
    ) -> None:
        """Start etcd. `initial` maps every member's name (this one included) to its peer
        socket for a member that has no data yet; `existing` joins a running cluster."""
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        argv = [
            self._etcd,
            "--name",
            self.name,
            "--data-dir",
            str(self.data_dir),
            "--listen-client-urls",
            f"unix://{client_name(self.name)}",
            "--advertise-client-urls",
            f"unix://{client_name(self.name)}",
            "--listen-peer-urls",
            peer_url(self.name),
            "--initial-advertise-peer-urls",
            peer_url(self.name),
            "--heartbeat-interval",
            _HEARTBEAT_MS,
            "--election-timeout",
            _ELECTION_MS,
            # Old revisions go after the retention (an hour unless asked); the history
            # watches need is short, and one resuming past it reads the store again.
            "--auto-compaction-mode",
            "periodic",
            "--auto-compaction-retention",
            self._retention,
            "--experimental-watch-progress-notify-interval",
            self._progress,
            "--log-level",
            "warn",
            "--logger",
            "zap",
        ]
        self._base_argv = list(argv)
        if not self.has_data():
            members = dict(initial or {self.name: str(self.peer_socket)})
            for member, socket in members.items():
                self.link_peer(member, socket)
            argv += [
                "--initial-cluster",
                ",".join(f"{m}={peer_url(m)}" for m in sorted(members)),
                "--initial-cluster-state",
                "existing" if existing else "new",
            ]
        self._stopping = False
        self._argv = argv
        await self._spawn()
        await self._wait_for_socket()
        self._watcher = asyncio.create_task(self._supervise(), name=f"etcd-{self.name}")

    async def _spawn(self) -> None:
        # A member killed leaves its socket files; etcd will not listen over them.
        for path in (self.client_socket, self.peer_socket):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        logfile = self.data_dir.parent / "etcd.log"
        with open(logfile, "ab") as out:
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self._argv,
                    cwd=self.socket_dir,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=out,
                    stderr=out,
                    start_new_session=True,
                )
            except OSError as exc:
                raise SystemFailure(f"cannot start etcd ({self._etcd}): {exc}") from exc

    async def _wait_for_socket(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not self.client_socket.exists():
            if self._proc is None or self._proc.returncode is not None:
                raise SystemFailure(f"etcd exited at start; see {self.data_dir.parent}/etcd.log")
            if loop.time() > deadline:
                raise Unavailable("etcd did not open its client socket within 30 s")
            await asyncio.sleep(0.02)

    async def _supervise(self) -> None:
        while not self._stopping:
            assert self._proc is not None
            code = await self._proc.wait()
            if self._stopping:
                return
            log.warning("etcd member %s exited %s; starting it again", self.name, code)
            await asyncio.sleep(1)
            if self._stopping:
                return
            # Its data is there now: it restarts as the member it was.
            self._argv = self._base_argv
            await self._spawn()

    def signal(self, sig: int) -> None:
        """Send etcd a signal; if it dies of it, the supervisor starts it again."""
        if self._proc is not None and self._proc.returncode is None:
            self._proc.send_signal(sig)

    def leaving(self) -> None:
        """The member is being removed from its cluster and will exit by itself: the
        supervisor must not start it again."""
        self._stopping = True

    async def stop(self) -> None:
        self._stopping = True
        await self._terminate(self._proc)
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            # Not cancelled: a restart under way finishes, sees _stopping and returns,
            # so no process is left behind by a cancelled spawn.
            await asyncio.wait_for(watcher, 30)
        proc, self._proc = self._proc, None
        await self._terminate(proc)

    @staticmethod
    async def _terminate(proc: asyncio.subprocess.Process | None) -> None:
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    def remove_data(self) -> None:
        shutil.rmtree(self.data_dir.parent, ignore_errors=True)
        shutil.rmtree(self.socket_dir, ignore_errors=True)
