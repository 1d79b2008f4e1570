"""The runtime's interfaces by role (`Tasks`, `Execs`, `Adoption`; `Runtime` is all
three) and their value types.

Vocabulary and lifecycle of one container as the runtime sees it:

- `create(req)` starts the container's monitor, which runs `<runtime> create` on the
  bundle; the container's init process exists but has not exec'd the user's command
  yet (status `created`); the call returns the init's pid.
- `start(cid)` lets it exec the command (status `running`).
- `kill(cid, signal)`, `pause`/`resume`, `resize`, `update(resources)` act on a live
  container; `stats` reads its cgroup; `open_attach` connects to its stdio.
- `exec` runs another process in it, under a monitor of its own (`Execs`).
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
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from pier.config import RuntimeConfig
from pier.runtime.cgroupstats import ContainerStats
from pier.runtime.process import ProcessSpec
from pier.runtime.resources import Resources


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
    # The process, security settings resolved (see containers' exec spec); the
    # driver renders it with the renderer of config.json's process.
    process: ProcessSpec
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


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeRequest:
    """A health check's probe: a process run in a live container with no terminal, no
    stdin and no monitor; it does not outlive the daemon."""

    cid: str
    runtime: RuntimeConfig
    process: ProcessSpec
    timeout: float  # seconds from its start; then it is killed
    output_limit: int  # bytes of stdout and stderr together kept


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeOutcome:
    exit_code: int  # 128+signal when killed, as an exec's
    output: bytes  # the first `output_limit` bytes
    truncated: bool  # more output was discarded
    timed_out: bool


class Tasks(Protocol):
    """A container's life: create, start, signal, pause, limits, usage, end."""

    async def create(self, req: CreateRequest) -> int:
        """Create the container; return its init's pid. Leaves nothing behind on error."""
        ...

    async def start(self, cid: str, runtime: RuntimeConfig) -> None: ...

    async def kill(
        self, cid: str, runtime: RuntimeConfig, signal: int, *, all: bool = False
    ) -> None:
        """Send `signal`; a container that has already exited is not an error."""
        ...

    async def pause(self, cid: str, runtime: RuntimeConfig) -> None: ...

    async def resume(self, cid: str, runtime: RuntimeConfig) -> None: ...

    async def resize(self, cid: str, height: int, width: int) -> None: ...

    def reopen_log(self, cid: str) -> bool:
        """Have the monitor start a new log file, renamed over the log's path (the old
        file is dropped unless the caller has linked it elsewhere first); False when
        the monitor has gone. Does not block."""
        ...

    async def update(self, cid: str, runtime: RuntimeConfig, resources: Resources) -> None:
        """Apply new cgroup limits to the live container; what `resources` leaves
        unset keeps its value."""
        ...

    async def stats(self, cid: str, runtime: RuntimeConfig) -> ContainerStats:
        """A snapshot of the live container's resource usage (Conflict once it has
        exited)."""
        ...

    async def pids(self, cid: str, runtime: RuntimeConfig) -> list[int]:
        """The host pids of every process in the live container's cgroup, its execs'
        included (Conflict once it has exited)."""
        ...

    def open_attach(self, cid: str) -> socket.socket:
        """A new connection to the container's attach socket (the caller owns it).

        Output packets start with one byte naming the stream (2 stdout, 3 stderr);
        bytes sent go to the container's stdin unchanged (in pieces of at most 32 KiB:
        the monitor drops the rest of a larger message); shutdown(SHUT_WR) closes the
        container's stdin when it was created with `stdin_once`. Every connection gets
        the output, and a connection that is not read blocks the monitor.
        """
        ...

    async def delete(self, cid: str, runtime: RuntimeConfig, *, force: bool = False) -> None:
        """Remove the runtime state and the driver's files; idempotent."""
        ...

    async def wait(self, cid: str) -> ExitStatus:
        """Return once the container has exited and its exit is recorded."""
        ...

    def watch(self, cid: str, on_exit: Callable[[ExitStatus], None]) -> Callable[[], None]:
        """Call `on_exit` on the running loop once the container has exited and its
        exit is recorded, keeping no task meanwhile; returns what stops watching.
        NoSuchContainer when the runtime knows no such container."""
        ...

    async def state(self, cid: str, runtime: RuntimeConfig) -> RuntimeState: ...


class Execs(Protocol):
    """Processes run in a live container, each under a monitor of its own."""

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

    async def probe(self, req: ProbeRequest) -> ProbeOutcome:
        """Run a probe to its end (killed, with what it wrote so far, after
        `req.timeout`). One that cannot start raises as `exec` does; nothing is left
        behind, also when the caller is cancelled."""
        ...


class Adoption(Protocol):
    """What a starting daemon learns of the containers an earlier one left running;
    none of it waits or calls the OCI runtime."""

    def exit_status(self, cid: str) -> ExitStatus | None: ...

    def monitor_alive(self, cid: str) -> bool: ...

    def container_pid(self, cid: str) -> int | None: ...

    def known_containers(self) -> list[str]:
        """The ids the driver has state for (to clean up what no record claims)."""
        ...


class Runtime(Tasks, Execs, Adoption, Protocol):
    """Every role: what a driver implements and the engine hands out."""
