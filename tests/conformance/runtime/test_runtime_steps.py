"""The steps the driver takes without a runtime process (crun's exec FIFO, removal of
a stopped container's state, compiled seccomp filters) against real conmon + crun,
and the same contract on runc, which always gets its own commands."""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pier.runtime import cgroups
from pier.runtime.base import CreateRequest, ExecRequest
from pier.runtime.crunstate import SECCOMP_ANNOTATION
from pier.runtime.process import ProcessSpec

if TYPE_CHECKING:
    from conftest import Harness

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Allow everything but kill(2), which fails with EPERM: the shell's `kill -0` says so.
# (Not a syscall the runtimes' init makes: runc changes directory after its filter.)
NO_KILL = {
    "defaultAction": "SCMP_ACT_ALLOW",
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "syscalls": [{"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}],
}
TRY_KILL = ("sh", "-c", "kill -0 $$ 2>/dev/null && echo allowed || echo denied")


def _bundle(h: Harness, cid: str, args: tuple[str, ...], seccomp: object, host_pid: bool) -> Path:
    bundle = h.bundle(cid, args)
    config = json.loads((bundle / "config.json").read_text())
    if seccomp is not None:
        config["linux"]["seccomp"] = seccomp
    if host_pid:
        config["linux"]["namespaces"] = [
            ns for ns in config["linux"]["namespaces"] if ns["type"] != "pid"
        ]
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


async def _create(
    h: Harness, args: tuple[str, ...], seccomp: object = None, *, host_pid: bool = False
) -> tuple[str, Path]:
    cid = h.new_cid()
    bundle = _bundle(h, cid, args, seccomp, host_pid)
    await h.driver.create(
        CreateRequest(
            cid=cid,
            name=f"t-{cid[:6]}",
            bundle=bundle,
            runtime=h.runtime,
            log_path=bundle / "ctr.log",
            tty=False,
            stdin=False,
            stdin_once=False,
        )
    )
    return cid, bundle


def _stdout(log: Path) -> str:
    return "".join(line.split(" ", 3)[3] for line in log.read_text().splitlines(keepends=True))


def _state(h: Harness, cid: str) -> Path:
    return h.exec_root / "runtime" / h.runtime.name / cid


def test_every_container_with_one_profile_gets_its_filter(harness: Harness) -> None:
    """The first container's filter is compiled by the runtime; the next ones with
    the same profile get it ready-made (crun), and it holds for them and their execs."""

    async def go() -> None:
        outputs = []
        for _ in range(3):
            cid, bundle = await _create(harness, TRY_KILL, NO_KILL)
            await harness.driver.start(cid, harness.runtime)
            assert (await asyncio.wait_for(harness.driver.wait(cid), 10)).exit_code == 0
            outputs.append(_stdout(bundle / "ctr.log"))
            given = json.loads((harness.exec_root / "conmon" / cid / "config.json").read_text())
            outputs.append(SECCOMP_ANNOTATION in (given.get("annotations") or {}))
            await harness.driver.delete(cid, harness.runtime)
        compiled = harness.runtime.name == "crun"
        assert outputs == ["denied\n", False, "denied\n", compiled, "denied\n", compiled]

        # Another profile is compiled on its own: here nothing is denied.
        cid, bundle = await _create(harness, TRY_KILL, {**NO_KILL, "syscalls": []})
        await harness.driver.start(cid, harness.runtime)
        assert (await asyncio.wait_for(harness.driver.wait(cid), 10)).exit_code == 0
        assert _stdout(bundle / "ctr.log") == "allowed\n"

        # An exec in a container that got the ready-made filter is filtered too.
        cid, _ = await _create(harness, ("sleep", "100"), NO_KILL)
        await harness.driver.start(cid, harness.runtime)
        req = ExecRequest(
            cid=cid,
            exec_id=secrets.token_hex(32),
            runtime=harness.runtime,
            process=ProcessSpec(args=TRY_KILL, env=(PATH,)),
            tty=False,
            stdin=False,
            attach=True,
        )
        started = await harness.driver.exec(req)
        assert started.attach is not None
        with started.attach as sock:
            out = await asyncio.to_thread(_drain_stdout, sock)
        assert out == b"denied\n"
        assert await asyncio.wait_for(harness.driver.exec_wait(cid, req.exec_id), 10) == 0
        await harness.driver.exec_remove(cid, req.exec_id)

    asyncio.run(go())


def _drain_stdout(sock: socket.socket) -> bytes:
    out = b""
    sock.settimeout(10)
    while packet := sock.recv(65536):
        if packet[0] == 2:
            out += packet[1:]
    return out


def test_start_runs_a_created_container_once(harness: Harness) -> None:
    async def go() -> None:
        cid, bundle = await _create(harness, ("sh", "-c", "echo ran"))
        assert (await harness.driver.state(cid, harness.runtime)).status.value == "created"
        await harness.driver.start(cid, harness.runtime)
        assert (await asyncio.wait_for(harness.driver.wait(cid), 10)).exit_code == 0
        assert _stdout(bundle / "ctr.log") == "ran\n"
        assert not (_state(harness, cid) / "exec.fifo").exists()
        # A second start is the runtime's refusal, as before.
        with pytest.raises(Exception, match="start container"):
            await harness.driver.start(cid, harness.runtime)

    asyncio.run(go())


def test_delete_removes_the_state_and_cgroups_of_a_stopped_container(harness: Harness) -> None:
    async def go() -> None:
        cid, _ = await _create(harness, ("true",))
        await harness.driver.start(cid, harness.runtime)
        await asyncio.wait_for(harness.driver.wait(cid), 10)
        path = f"{harness.cgroup_parent}/{cid}"
        assert cgroups.exists(path)
        await harness.driver.delete(cid, harness.runtime)
        assert not _state(harness, cid).exists()
        assert not cgroups.exists(path)

    asyncio.run(go())


def test_delete_stops_what_outlived_the_init(harness: Harness) -> None:
    """With the host's pid namespace a child outlives the container's init: the
    cgroup cannot be removed while it runs, and the runtime's delete ends it."""

    async def go() -> None:
        sleeper = ("sh", "-c", "sleep 300 </dev/null >/dev/null 2>&1 & exit 0")
        cid, _ = await _create(harness, sleeper, host_pid=True)
        await harness.driver.start(cid, harness.runtime)
        assert (await asyncio.wait_for(harness.driver.wait(cid), 10)).exit_code == 0
        path = f"{harness.cgroup_parent}/{cid}"
        procs = cgroups.read_mounts().v1.get("pids")
        assert procs is not None
        left = (procs / path.lstrip("/") / "cgroup.procs").read_text().split()
        assert len(left) == 1  # the sleep
        await harness.driver.delete(cid, harness.runtime, force=True)
        assert not cgroups.exists(path)
        assert not _state(harness, cid).exists()

    asyncio.run(go())
