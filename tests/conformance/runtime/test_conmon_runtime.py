"""The Runtime contract, on real conmon + crun and runc (see conftest.py)."""

from __future__ import annotations

import asyncio
import signal
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pier.containers.logs import STDOUT, LogFile
from pier.errors import InvalidParameter, PierError
from pier.runtime.base import CreateRequest, ExitStatus, RuntimeStatus
from pier.runtime.conmon import ConmonRuntime
from pier.runtime.messages import start_error_exit_code

if TYPE_CHECKING:
    from conftest import Harness


def _request(h: Harness, cid: str, bundle: Path, **kw: object) -> CreateRequest:
    opts: dict[str, object] = {"tty": False, "stdin": False, "stdin_once": False}
    opts.update(kw)
    return CreateRequest(
        cid=cid,
        name=f"t-{cid[:6]}",
        bundle=bundle,
        runtime=h.runtime,
        log_path=bundle / "ctr.log",
        **opts,  # type: ignore[arg-type]
    )


async def _run(h: Harness, args: tuple[str, ...], **kw: object) -> tuple[str, CreateRequest]:
    cid = h.new_cid()
    req = _request(h, cid, h.bundle(cid, args, terminal=bool(kw.get("tty"))), **kw)
    pid = await h.driver.create(req)
    assert pid > 0
    await h.driver.start(cid, h.runtime)
    return cid, req


def test_echo_exits_zero_and_logs(harness: Harness) -> None:
    async def go() -> None:
        cid, req = await _run(harness, ("echo", "hi"))
        status = await asyncio.wait_for(harness.driver.wait(cid), 10)
        assert status.exit_code == 0
        assert not status.oom_killed
        assert status.finished_at.endswith("Z")
        line = req.log_path.read_bytes()
        assert line.endswith(b" stdout F hi\n")
        (record,) = LogFile(req.log_path).read_chunk()[0]
        assert (record.stream, record.data) == (STDOUT, b"hi\n")
        await harness.driver.delete(cid, harness.runtime)
        assert harness.driver.exit_status(cid) is None

    asyncio.run(go())


def test_exit_code_recorded(harness: Harness) -> None:
    async def go() -> None:
        cid, _ = await _run(harness, ("sh", "-c", "exit 3"))
        status = await asyncio.wait_for(harness.driver.wait(cid), 10)
        assert status.exit_code == 3
        assert harness.driver.exit_status(cid) == status
        # conmon writes the exit file, then exits: it may linger a moment.
        deadline = time.monotonic() + 5
        while harness.driver.monitor_alive(cid) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert not harness.driver.monitor_alive(cid)

    asyncio.run(go())


def test_sigterm_through_init(harness: Harness) -> None:
    async def go() -> None:
        cid = harness.new_cid()
        bundle = harness.bundle(cid, ("sleep", "100"), init_path="/usr/bin/tini-static")
        await harness.driver.create(_request(harness, cid, bundle))
        await harness.driver.start(cid, harness.runtime)
        state = await harness.driver.state(cid, harness.runtime)
        assert state.status is RuntimeStatus.RUNNING
        assert state.pid == harness.driver.container_pid(cid)
        waiter = asyncio.ensure_future(harness.driver.wait(cid))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await harness.driver.kill(cid, harness.runtime, signal.SIGTERM)
        status = await asyncio.wait_for(waiter, 10)
        assert status.exit_code == 143
        # Killing a container that has exited is not an error.
        await harness.driver.kill(cid, harness.runtime, signal.SIGKILL)

    asyncio.run(go())


def test_sigkill_all(harness: Harness) -> None:
    async def go() -> None:
        cid, _ = await _run(harness, ("sleep", "100"))
        await harness.driver.kill(cid, harness.runtime, signal.SIGKILL, all=True)
        status = await asyncio.wait_for(harness.driver.wait(cid), 10)
        assert status.exit_code == 137

    asyncio.run(go())


def test_wait_from_a_new_driver_instance(harness: Harness) -> None:
    async def go() -> None:
        cid, _ = await _run(harness, ("sleep", "100"))
        # A daemon restart: a new driver over the same exec root.
        fresh = ConmonRuntime(exec_root=harness.exec_root)
        assert fresh.monitor_alive(cid)
        assert fresh.exit_status(cid) is None
        waiter = asyncio.ensure_future(fresh.wait(cid))
        await asyncio.sleep(0.1)
        await fresh.kill(cid, harness.runtime, signal.SIGKILL)
        status = await asyncio.wait_for(waiter, 10)
        assert status.exit_code == 137

    asyncio.run(go())


def test_exit_while_nobody_watched(harness: Harness) -> None:
    async def go() -> None:
        cid, _ = await _run(harness, ("sh", "-c", "exit 7"))
        deadline = time.monotonic() + 10
        while harness.driver.monitor_alive(cid) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        fresh = ConmonRuntime(exec_root=harness.exec_root)
        assert not fresh.monitor_alive(cid)
        status = await asyncio.wait_for(fresh.wait(cid), 2)
        assert status.exit_code == 7
        assert fresh.exit_status(cid) == status

    asyncio.run(go())


def test_attach_stdin_once_reaches_cat(harness: Harness) -> None:
    async def go() -> None:
        cid = harness.new_cid()
        bundle = harness.bundle(cid, ("cat",))
        req = _request(harness, cid, bundle, stdin=True, stdin_once=True)
        await harness.driver.create(req)
        sock = harness.driver.open_attach(cid)
        try:
            await harness.driver.start(cid, harness.runtime)
            sock.sendall(b"hello through conmon\n")
            sock.shutdown(socket.SHUT_WR)
            received = b""
            sock.settimeout(10)
            while True:
                packet = sock.recv(65536)
                if not packet:
                    break
                assert packet[0] == 2  # stdout
                received += packet[1:]
        finally:
            sock.close()
        assert received == b"hello through conmon\n"
        status = await asyncio.wait_for(harness.driver.wait(cid), 10)
        assert status.exit_code == 0
        assert b"stdout F hello through conmon\n" in req.log_path.read_bytes()

    asyncio.run(go())


def test_attach_sees_stderr(harness: Harness) -> None:
    async def go() -> None:
        cid = harness.new_cid()
        bundle = harness.bundle(cid, ("sh", "-c", "read x; echo out-$x; echo err-$x >&2"))
        await harness.driver.create(_request(harness, cid, bundle, stdin=True, stdin_once=True))
        sock = harness.driver.open_attach(cid)
        streams: dict[int, bytes] = {2: b"", 3: b""}
        try:
            await harness.driver.start(cid, harness.runtime)
            sock.sendall(b"42\n")
            sock.settimeout(10)
            while True:
                packet = sock.recv(65536)
                if not packet:
                    break
                streams[packet[0]] += packet[1:]
        finally:
            sock.close()
        assert streams == {2: b"out-42\n", 3: b"err-42\n"}
        assert (await harness.driver.wait(cid)).exit_code == 0

    asyncio.run(go())


def test_tty_and_resize(harness: Harness) -> None:
    async def go() -> None:
        cid = harness.new_cid()
        bundle = harness.bundle(cid, ("sh", "-c", "stty size; echo done"), terminal=True)
        req = _request(harness, cid, bundle, tty=True)
        await harness.driver.create(req)
        await harness.driver.resize(cid, 40, 100)
        await asyncio.sleep(0.05)  # conmon applies the size from its main loop
        await harness.driver.start(cid, harness.runtime)
        status = await asyncio.wait_for(harness.driver.wait(cid), 10)
        assert status.exit_code == 0
        log = req.log_path.read_bytes()
        assert b"stdout F 40 100\r\n" in log
        assert b"done" in log

    asyncio.run(go())


@pytest.mark.parametrize(
    ("args", "phrase", "code"),
    [
        (("no-such-cmd",), 'exec: "no-such-cmd": executable file not found in $PATH', 127),
        (("/no/such/file",), "no such file or directory", 127),
        (("/notexec",), "permission denied", 126),
    ],
    ids=["not-in-path", "missing-path", "not-executable"],
)
def test_exec_errors_in_dockers_words(
    harness: Harness, args: tuple[str, ...], phrase: str, code: int
) -> None:
    async def go() -> None:
        cid = harness.new_cid()
        bundle = harness.bundle(cid, args)
        with pytest.raises(PierError) as caught:
            await harness.driver.create(_request(harness, cid, bundle))
        message = str(caught.value)
        assert phrase in message
        assert message.startswith("failed to create task for container: ")
        assert message.endswith(": unknown")
        assert isinstance(caught.value, InvalidParameter)
        assert start_error_exit_code(message) == code
        assert not (harness.exec_root / "conmon" / cid).exists()
        assert not (harness.exec_root / "runtime" / harness.runtime.name / cid).exists()

    asyncio.run(go())


def test_delete_force_running(harness: Harness) -> None:
    async def go() -> None:
        cid, _ = await _run(harness, ("sleep", "100"))
        await harness.driver.delete(cid, harness.runtime, force=True)
        assert not harness.driver.monitor_alive(cid)
        # idempotent
        await harness.driver.delete(cid, harness.runtime, force=True)

    asyncio.run(go())


def test_pause_resume(harness: Harness) -> None:
    async def go() -> None:
        cid, _ = await _run(harness, ("sleep", "100"))
        await harness.driver.pause(cid, harness.runtime)
        assert (await harness.driver.state(cid, harness.runtime)).status is RuntimeStatus.PAUSED
        await harness.driver.resume(cid, harness.runtime)
        assert (await harness.driver.state(cid, harness.runtime)).status is RuntimeStatus.RUNNING

    asyncio.run(go())


def test_watch_calls_back_once_and_stops_cleanly(harness: Harness) -> None:
    """`watch` keeps one pidfd reader per container and no task: its callback comes
    once, after the exit is recorded; a stopped watch never calls back and holds no
    descriptor."""

    async def go() -> None:
        fds = len(list(Path("/proc/self/fd").iterdir()))
        seen: list[int] = []
        dropped: list[int] = []
        kept, _ = await _run(harness, ("sh", "-c", "read x; exit 4"), stdin=True)
        other, _ = await _run(harness, ("sh", "-c", "read x; exit 5"), stdin=True)
        tasks = len(asyncio.all_tasks())
        called = asyncio.Event()

        def on_exit(status: ExitStatus) -> None:
            seen.append(status.exit_code)
            called.set()

        stop_kept = harness.driver.watch(kept, on_exit)
        stop_other = harness.driver.watch(other, lambda s: dropped.append(s.exit_code))
        assert len(asyncio.all_tasks()) == tasks
        stop_other()
        stop_other()  # harmless twice
        await harness.driver.kill(kept, harness.runtime, signal.SIGKILL)
        await harness.driver.kill(other, harness.runtime, signal.SIGKILL)
        await asyncio.wait_for(called.wait(), 10)
        assert seen == [137]
        assert harness.driver.exit_status(kept) is not None
        await asyncio.wait_for(harness.driver.wait(other), 10)
        stop_kept()  # after the callback: nothing left to stop
        assert dropped == []
        for cid in (kept, other):
            await harness.driver.delete(cid, harness.runtime)
        assert len(list(Path("/proc/self/fd").iterdir())) == fds

    asyncio.run(go())
