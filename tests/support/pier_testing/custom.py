"""A test pierd with flags of its own, other hosts, or a socket handed over as a
socket activator hands it, started and checked as the suite's pierd fixture."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from pier_testing.daemon import PierDaemon
from pier_testing.leaks import Scope


class CustomDaemon(PierDaemon):
    """A test pierd with more flags, its own hosts, or descriptors to inherit."""

    def __init__(
        self,
        scope: Scope,
        *,
        flags: list[str],
        hosts: list[str] | None = None,
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(scope)
        if config:
            merged = json.loads(self.config_file.read_text())
            merged.update(config)
            self.config_file.write_text(json.dumps(merged))
        self.flags = flags
        self.hosts = hosts
        self.activated: socket.socket | None = None

    def command(self) -> list[str]:
        argv = super().command()
        if self.hosts is not None:
            at = argv.index("-H")
            del argv[at : at + 2]
            for host in self.hosts:
                argv += ["-H", host]
        return argv + self.flags

    def destroy(self) -> None:
        if self.activated is not None:
            # The socket's file is the activator's, which pierd leaves in place: gone,
            # destroy() does not take the daemon for one still to stop.
            self.socket.unlink(missing_ok=True)
        super().destroy()

    def spawn(self, argv: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        if self.activated is None:
            return super().spawn(argv, log)
        # As systemd: the socket as descriptor 3, LISTEN_PID naming the process that
        # execs pierd (the shell's pid is pierd's after exec).
        fd = self.activated.fileno()
        return subprocess.Popen(
            ["bash", "-c", f'LISTEN_PID=$$ LISTEN_FDS=1 exec "$@" 3<&{fd}', "bash", *argv],
            pass_fds=(fd,),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


@contextlib.contextmanager
def running(daemon: CustomDaemon, scope: Scope, image: Path | None = None) -> Iterator[None]:
    """As the suite's pierd fixture: started, busybox imported, nothing left at the end."""
    try:
        daemon.start()
        if image is not None:
            resp = daemon.client.request(
                "POST",
                "/images/create",
                params={"fromSrc": "-", "repo": "busybox", "tag": "latest"},
                body=image.read_bytes(),
                headers={"Content-Type": "application/x-tar"},
            )
            assert b"sha256:" in resp.read()
        yield
        daemon.remove_all_containers()
        daemon.stop()
        left = {r for r in scope.snapshot() if str(daemon.base) in r}
        assert not left, f"pierd left behind: {sorted(left)}"
    finally:
        daemon.destroy()
