"""Exec instances: `docker exec`, a process run in a running container.

An exec is created (checked against the container, given an id), then started once,
attached or detached. Each runs under its own conmon in exec mode; an attached one's
output and stdin go through that monitor's attach socket, connected before the process
starts. Like dockerd, the instances live in memory only: after a daemon restart a
container can be exec'd into again, but the earlier instances are forgotten.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pier.config import RuntimeConfig
from pier.containers.attach import drain_stdin, parse_detach_keys, pump_stdin, watch_detach
from pier.containers.exec_spec import exec_process
from pier.containers.model import Container, Status
from pier.containers.streams import STDERR, STDOUT, ClientStream
from pier.containers.user import resolve_user
from pier.errors import Conflict, InvalidParameter, NotFound, PierError
from pier.events import EventBus
from pier.runtime.base import ExecRequest, Execs, ProbeRequest
from pier.runtime.messages import start_error_exit_code
from pier.runtime.process import ProcessSpec
from pier.runtime.spec import HostFacts

log = logging.getLogger(__name__)

_PACKET = 65536  # conmon sends at most 8 KiB of output plus its stream byte


class NoSuchExec(NotFound):
    def __init__(self, exec_id: str) -> None:
        super().__init__(f"No such exec instance: {exec_id}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecConfig:
    cmd: tuple[str, ...]
    env: tuple[str, ...] = ()
    working_dir: str = ""
    user: str = ""
    tty: bool = False
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    privileged: bool = False
    detach_keys: str | None = None
    console_size: tuple[int, int] = (0, 0)  # (height, width)


@dataclass(slots=True, kw_only=True)
class ExecInstance:
    id: str
    container_id: str
    config: ExecConfig
    running: bool = False
    started: bool = False
    pid: int = 0
    exit_code: int | None = None
    # Set once the exit code is recorded: the CLI reads it right after the stream ends.
    done: asyncio.Event = field(default_factory=asyncio.Event)


class ExecHost(Protocol):
    """What execs need of the containers service."""

    def get(self, ref: str) -> Container:
        """The container `ref` names (id, prefix or name); NoSuchContainer if none."""
        ...

    def find(self, cid: str) -> Container | None: ...

    def runtime_config(self, container: Container) -> RuntimeConfig: ...

    def container_dir(self, cid: str) -> Path:
        """Where the container's files are; its root filesystem is mounted at
        `rootfs` there while it runs."""
        ...


class ExecService:
    def __init__(
        self,
        *,
        containers: ExecHost,
        runtime: Execs,
        events: EventBus,
        facts: HostFacts,
    ) -> None:
        self._containers = containers
        self._runtime = runtime
        self._events = events
        self._facts = facts
        self._execs: dict[str, ExecInstance] = {}
        # A probe's process is the same at every probe of one run of a container:
        # resolved once ((started_at, cmd) -> spec), not at each probe.
        self._probe_specs: dict[str, tuple[tuple[str, tuple[str, ...]], ProcessSpec]] = {}
        self._watchers: set[asyncio.Task[None]] = set()

    # -- create, inspect -----------------------------------------------------------

    def create(self, ref: str, config: ExecConfig) -> ExecInstance:
        c = self._active(ref)
        if not config.cmd:
            raise InvalidParameter("No exec command specified")
        try:
            parse_detach_keys(config.detach_keys)  # a bad sequence is a 400 now
        except ValueError:
            raise InvalidParameter(f"Invalid escape keys ({config.detach_keys}) provided") from None
        self._forget_orphans()
        return self._register(c, config)

    def _register(self, c: Container, config: ExecConfig) -> ExecInstance:
        instance = ExecInstance(id=secrets.token_hex(32), container_id=c.id, config=config)
        self._execs[instance.id] = instance
        self._publish(c, f"exec_create: {' '.join(config.cmd)}", instance)
        return instance

    def get(self, exec_id: str) -> ExecInstance:
        instance = self._execs.get(exec_id)
        if instance is None or self._containers.find(instance.container_id) is None:
            raise NoSuchExec(exec_id)
        return instance

    def of_container(self, cid: str) -> list[str]:
        """The ids of the container's running execs (inspect's ExecIDs)."""
        return [e.id for e in self._execs.values() if e.container_id == cid and e.running]

    def _active(self, ref: str) -> Container:
        c = self._containers.get(ref)
        if c.state.status == Status.PAUSED:
            raise Conflict(f"Container {c.id} is paused, unpause the container before exec")
        if c.state.status == Status.RESTARTING:
            raise Conflict(f"Container {c.id} is restarting, wait until the container is running")
        if not c.state.running:
            raise Conflict(f"container {c.id} is not running")
        return c

    def _forget_orphans(self) -> None:
        for exec_id, instance in list(self._execs.items()):
            if not instance.running and self._containers.find(instance.container_id) is None:
                del self._execs[exec_id]
        for cid in [cid for cid in self._probe_specs if self._containers.find(cid) is None]:
            del self._probe_specs[cid]

    # -- start ---------------------------------------------------------------------

    async def start(
        self, exec_id: str, *, console_size: tuple[int, int] | None = None
    ) -> ExecStart:
        """Start the process; for an attached start, the returned session pumps the
        streams. Failures to start are recorded on the instance (exit code 126/127)
        and raised."""
        instance = self.get(exec_id)
        if instance.exit_code is not None:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        if instance.started:
            raise Conflict(f"Error: Exec command {exec_id} is already running")
        cfg = instance.config
        attach = cfg.attach_stdin or cfg.attach_stdout or cfg.attach_stderr
        instance.started = True
        try:
            c = self._active(instance.container_id)
            process = await asyncio.to_thread(
                self._process, c, cfg, console_size or cfg.console_size
            )
            started = await self._runtime.exec(
                ExecRequest(
                    cid=c.id,
                    exec_id=exec_id,
                    runtime=self._containers.runtime_config(c),
                    process=process,
                    tty=cfg.tty,
                    stdin=cfg.attach_stdin,
                    attach=attach,
                )
            )
        except PierError as exc:
            instance.exit_code = start_error_exit_code(exc.message) or 126
            instance.done.set()
            raise
        except BaseException:
            instance.exit_code = 126
            instance.done.set()
            raise
        instance.pid = started.pid
        instance.running = True
        self._publish(c, f"exec_start: {' '.join(cfg.cmd)}", instance)
        watcher = asyncio.create_task(self._watch(c, instance), name=f"exec-{exec_id[:12]}")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return ExecStart(instance, started.attach)

    def _process(self, c: Container, cfg: ExecConfig, console_size: tuple[int, int]) -> ProcessSpec:
        rootfs: Path = self._containers.container_dir(c.id) / "rootfs"
        user = resolve_user(rootfs, cfg.user or c.config.user, c.host_config.group_add)
        return exec_process(
            c,
            cmd=cfg.cmd,
            env=cfg.env,
            working_dir=cfg.working_dir,
            user=user,
            tty=cfg.tty,
            privileged=cfg.privileged,
            console_size=console_size,
            facts=self._facts,
        )

    async def _watch(self, c: Container, instance: ExecInstance) -> None:
        try:
            code = await self._runtime.exec_wait(c.id, instance.id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("waiting for exec %s failed", instance.id[:12])
            code = 126
        instance.exit_code = code
        instance.running = False
        instance.done.set()
        attrs = {"execID": instance.id, "exitCode": str(code)}
        self._publish(c, "exec_die", instance, attrs)
        with contextlib.suppress(PierError, OSError):
            await self._runtime.exec_remove(c.id, instance.id)

    async def probe(self, cid: str, cmd: tuple[str, ...], *, timeout: float) -> ProbeResult:
        """A health check's probe: `cmd` run as an exec with dockerd's events
        (exec_create, exec_start, exec_die), its output kept up to `PROBE_OUTPUT`
        bytes, killed after `timeout` seconds (then `timed_out`, exit code -1). It runs
        through the runtime's probe path, which needs no monitor; the instance is
        forgotten once it has exited. PierError when it cannot start."""
        c = self._active(cid)
        # Not create(): its sweep of orphans is for API execs; a probe's instance
        # never outlives this call.
        instance = self._register(c, ExecConfig(cmd=cmd, attach_stdout=True, attach_stderr=True))
        try:
            process = self._probe_specs.get(c.id)
            if process is None or process[0] != (c.state.started_at, cmd):
                spec = await asyncio.to_thread(self._process, c, instance.config, (0, 0))
                process = ((c.state.started_at, cmd), spec)
                self._probe_specs[c.id] = process
            instance.started = instance.running = True
            # dockerd announces the start before asking for it.
            self._publish(c, f"exec_start: {' '.join(cmd)}", instance)
            request = ProbeRequest(
                cid=c.id,
                runtime=self._containers.runtime_config(c),
                process=process[1],
                timeout=timeout,
                output_limit=PROBE_OUTPUT,
            )
            try:
                outcome = await self._runtime.probe(request)
            except PierError as exc:
                instance.exit_code = start_error_exit_code(exc.message) or 126
                raise
            instance.exit_code = outcome.exit_code
            attrs = {"execID": instance.id, "exitCode": str(outcome.exit_code)}
            self._publish(c, "exec_die", instance, attrs)
        finally:
            instance.running = False
            if instance.exit_code is None:
                instance.exit_code = 126
            instance.done.set()
            self._execs.pop(instance.id, None)
        text = outcome.output.decode(errors="replace") + ("..." if outcome.truncated else "")
        if outcome.timed_out:
            return ProbeResult(exit_code=-1, output=text, timed_out=True)
        return ProbeResult(exit_code=outcome.exit_code, output=text)

    def forget_probes(self, cid: str) -> None:
        """Drop what was kept for the probes of `cid` (it stopped or is gone)."""
        self._probe_specs.pop(cid, None)

    async def resize(self, exec_id: str, height: int, width: int) -> None:
        instance = self.get(exec_id)
        if not instance.running:
            raise Conflict(f"Exec {exec_id} is not running")
        await self._runtime.exec_resize(instance.container_id, exec_id, height, width)

    def _publish(
        self,
        c: Container,
        action: str,
        instance: ExecInstance,
        extra: dict[str, str] | None = None,
    ) -> None:
        attrs = {"image": c.config.image, "name": c.name, "execID": instance.id}
        attrs.update(c.config.labels)
        attrs.update(extra or {})
        self._events.publish("container", action, c.id, attrs)

    async def close(self) -> None:
        """Stop watching; the processes keep running (their monitors outlive us)."""
        for task in list(self._watchers):
            task.cancel()
        for task in list(self._watchers):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


PROBE_OUTPUT = 4096  # bytes of a probe's output dockerd keeps (maxOutputLen)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    exit_code: int
    output: str
    timed_out: bool = False


class ExecStart:
    """A started exec; `pump` joins an attached one to the client's connection.

    The client's encoding (raw, or Docker's multiplexed frames) is the caller's
    choice: dockerd follows the start request's Tty, not the exec's."""

    def __init__(self, instance: ExecInstance, sock: socket.socket | None):
        self.instance = instance
        self._sock = sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()

    async def pump(self, client: ClientStream) -> None:
        """Copy until the process's output ends (then wait for its exit code to be
        recorded), the client goes away, or it detaches; the process runs on."""
        sock = self._sock
        if sock is None:
            return
        sock.setblocking(False)
        cfg = self.instance.config
        # As for attach, the detach sequence is watched for on a terminal only.
        keys = parse_detach_keys(cfg.detach_keys) if cfg.tty else b""  # checked at create
        detached = asyncio.Event()
        if cfg.attach_stdin:
            # An exec's stdin closes at the client's EOF, unless it is a terminal.
            stdin = asyncio.create_task(
                pump_stdin(client, sock, keys, detached, close_stdin=not cfg.tty)
            )
        else:
            stdin = asyncio.create_task(watch_detach(client, keys, detached))
        output = asyncio.create_task(self._output(client, sock))
        closed = asyncio.ensure_future(client.wait_closed())
        detach_wait = asyncio.ensure_future(detached.wait())
        try:
            await asyncio.wait({output, closed, detach_wait}, return_when=asyncio.FIRST_COMPLETED)
            await drain_stdin(closed, stdin)
            if output.done() and output.exception() is None:
                await self.instance.done.wait()
        finally:
            for task in (output, stdin, closed, detach_wait):
                task.cancel()
            for task in (output, stdin):
                with contextlib.suppress(asyncio.CancelledError, ConnectionError, OSError):
                    await task
            self.close()

    async def _output(self, client: ClientStream, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.instance.config
        while True:
            packet = await loop.sock_recv(sock, _PACKET)
            if not packet:
                return
            # conmon names the stream in the first byte: 2 stdout, 3 stderr.
            stream = STDERR if packet[0] == 3 else STDOUT
            if (stream == STDOUT and not cfg.attach_stdout) or (
                stream == STDERR and not cfg.attach_stderr
            ):
                continue
            if len(packet) > 1:
                await client.send([(stream, packet[1:])])
