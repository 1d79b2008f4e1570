"""The Runtime interface the containers service drives, and its value types.

Vocabulary and lifecycle of one container as the runtime sees it:

- `create(req)` starts the container's monitor, which runs `<runtime> create` on the
  bundle; the container's init process exists but has not exec'd the user's command
  yet (status `created`); the call returns the init's pid.
- `start(cid)` lets it exec the command (status `running`).
- `kill(cid, signal)`, `pause`/`resume`, `resize` act on a live container.
- The container exits; the monitor records the exit code in its exit file and then
  exits itself. `wait(cid)` returns that record (`ExitStatus`); `exit_status(cid)`
  reads it without waiting.
- `delete(cid)` removes the runtime's state and the driver's files; afterwards the
  runtime knows nothing of `cid`.

The driver keeps nothing about a container in memory: everything is on disk under the
exec root, and the `RuntimeConfig` is passed on every call, so a new daemon process
re-adopts the containers an earlier one created.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from pier.config import RuntimeConfig


class RuntimeStatus(StrEnum):
    CREATING = "creating"
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeState:
    """What `<runtime> state` says about a container."""

    status: RuntimeStatus
    pid: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitStatus:
    """How a container ended, as its monitor recorded it.

    `exit_code` is the process's status, or 128+signal when a signal killed it (Docker's
    convention); 255 when the monitor vanished without recording anything.
    `finished_at` is RFC 3339 with nanoseconds in UTC ("2024-05-01T10:00:00.123456789Z").
    """

    exit_code: int
    finished_at: str
    oom_killed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateRequest:
    cid: str
    name: str
    # The OCI bundle: a directory holding config.json (whose root.path should be
    # absolute; a relative one is resolved against this directory).
    bundle: Path
    runtime: RuntimeConfig
    tty: bool
    stdin: bool
    # Close the container's stdin when the first attached client closes its input.
    stdin_once: bool
    log_path: Path
    log_size_max: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecRequest:
    """One process to run in a running container (`docker exec`)."""

    cid: str
    exec_id: str
    runtime: RuntimeConfig
    # The OCI process object (as in config.json's "process") the runtime executes.
    process: Mapping[str, Any]
    tty: bool
    stdin: bool
    # Connect to the session's attach socket before the process starts, so not a
    # byte of its output is missed; without it the output is discarded (`exec -d`).
    attach: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecStarted:
    pid: int
    # The session's SOCK_SEQPACKET attach socket when `attach` was asked for (the
    # caller owns it): output packets start with one byte naming the stream (2 stdout,
    # 3 stderr), sent bytes go to the process's stdin, shutdown(SHUT_WR) closes that
    # stdin, and the socket reaches EOF once the process has exited and its output
    # is drained.
    attach: socket.socket | None


class Runtime(Protocol):
    async def create(self, req: CreateRequest) -> int:
        """Create the container; return its init's pid. Leaves nothing behind on error."""
        ...

    async def start(self, cid: str, runtime: RuntimeConfig) -> None: ...

    async def kill(
        self, cid: str, runtime: RuntimeConfig, signal: int, *, all: bool = False
    ) -> None:
        """Send `signal`; a container that has already exited is not an error."""
        ...

    async def delete(self, cid: str, runtime: RuntimeConfig, *, force: bool = False) -> None:
        """Remove the runtime state and the driver's files; idempotent."""
        ...

    async def wait(self, cid: str) -> ExitStatus:
        """Return once the container has exited and its exit is recorded."""
        ...

    def exit_status(self, cid: str) -> ExitStatus | None: ...

    def monitor_alive(self, cid: str) -> bool: ...

    def container_pid(self, cid: str) -> int | None: ...

    async def state(self, cid: str, runtime: RuntimeConfig) -> RuntimeState: ...

    def known_containers(self) -> list[str]:
        """The ids the driver has state for (to clean up what no record claims)."""
        ...

    def attach_socket_path(self, cid: str) -> Path:
        """The monitor's SOCK_SEQPACKET attach socket.

        Output packets start with one byte naming the stream (2 stdout, 3 stderr); bytes
        written to it go to the container's stdin unchanged; shutdown(SHUT_WR) closes
        the container's stdin when the container was created with `stdin_once`.
        """
        ...

    async def resize(self, cid: str, height: int, width: int) -> None: ...

    async def pause(self, cid: str, runtime: RuntimeConfig) -> None: ...

    async def resume(self, cid: str, runtime: RuntimeConfig) -> None: ...

    async def exec(self, req: ExecRequest) -> ExecStarted:
        """Run a process in the running container `req.cid` under its own monitor.

        A process that cannot start raises with the runtime's message in Docker's
        wording; nothing is left behind then."""
        ...

    async def exec_wait(self, cid: str, exec_id: str) -> int:
        """The exec'd process's exit code (128+signal), once it has exited."""
        ...

    async def exec_resize(self, cid: str, exec_id: str, height: int, width: int) -> None: ...

    async def exec_remove(self, cid: str, exec_id: str) -> None:
        """Forget an exec whose process has exited; idempotent."""
        ...
