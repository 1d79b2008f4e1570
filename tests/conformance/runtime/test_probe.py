"""The Execs role's probe path on real crun and runc: a health check's process run by
the runtime directly, its exit code, bounded output, timeout and failures; the
harness checks afterwards that no runtime process or file is left."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pier.errors import InvalidParameter, PierError
from pier.runtime.base import ProbeRequest
from pier.runtime.messages import start_error_exit_code
from pier.runtime.process import ProcessSpec

if TYPE_CHECKING:
    from conftest import Harness

PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _probe(
    h: Harness, cid: str, script: str, *, timeout: float = 10, limit: int = 4096, uid: int = 0
) -> ProbeRequest:
    return ProbeRequest(
        cid=cid,
        runtime=h.runtime,
        process=ProcessSpec(args=("sh", "-c", script), env=(PATH, "X=x"), uid=uid, gid=uid),
        timeout=timeout,
        output_limit=limit,
    )


def _pids(*words: bytes) -> list[int]:
    """Host pids whose command line holds every word (NUL-separated arguments)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
                if all(w in cmdline for w in words):
                    found.append(int(entry))
    return found


async def _until_gone(*words: bytes) -> None:
    deadline = time.monotonic() + 10
    while _pids(*words):
        assert time.monotonic() < deadline, f"still running: {words}"
        await asyncio.sleep(0.02)


def test_probe_exit_code_and_output_of_both_streams(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running()
        script = 'echo out; echo "$X" >&2; id -u; exit 3'
        outcome = await harness.driver.probe(_probe(harness, cid, script, uid=1000))
        assert (outcome.exit_code, outcome.timed_out, outcome.truncated) == (3, False, False)
        # One buffer for both streams; runc copies each on its own, so between the
        # two streams the order is not kept (nor is it by dockerd's copiers).
        assert sorted(outcome.output.splitlines()) == [b"1000", b"out", b"x"]
        ok = await harness.driver.probe(_probe(harness, cid, "true"))
        assert (ok.exit_code, ok.output) == (0, b"")
        killed = await harness.driver.probe(_probe(harness, cid, "kill -9 $$"))
        assert killed.exit_code == 137

    asyncio.run(go())


def test_probe_output_is_bounded_and_the_process_never_blocks(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running()
        # 200 KiB: more than a pipe holds, so the rest must be read and dropped.
        script = "i=0; while [ $i -lt 3200 ]; do echo " + "x" * 63 + "; i=$((i+1)); done"
        outcome = await harness.driver.probe(_probe(harness, cid, script, limit=100))
        assert outcome.exit_code == 0
        assert outcome.output == (b"x" * 63 + b"\n") + b"x" * 36
        assert outcome.truncated

    asyncio.run(go())


def test_probe_timeout_kills_it_and_its_children(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running()
        began = time.monotonic()
        script = "echo slow; sleep 6171 & sleep 6172; echo never"
        outcome = await harness.driver.probe(_probe(harness, cid, script, timeout=0.5))
        assert time.monotonic() - began < 30
        assert outcome.timed_out
        assert outcome.exit_code == 137
        assert outcome.output == b"slow\n"
        # The shell's children die with it (they would keep the output open).
        await _until_gone(b"sleep\x006171")
        await _until_gone(b"sleep\x006172")
        assert not _pids(cid.encode(), b"\x00exec\x00")

    asyncio.run(go())


def test_a_cancelled_probe_leaves_nothing(harness: Harness) -> None:
    async def go() -> None:
        cid = await harness.running()
        task = asyncio.ensure_future(harness.driver.probe(_probe(harness, cid, "sleep 6173")))
        deadline = time.monotonic() + 10
        while not _pids(b"sleep\x006173"):
            assert time.monotonic() < deadline, "the probe never started"
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _pids(cid.encode(), b"\x00exec\x00")  # the runtime is reaped
        await _until_gone(b"sleep\x006173")

    asyncio.run(go())


@pytest.mark.parametrize(
    ("args", "phrase", "code"),
    [
        (("no-such-cmd",), 'exec: "no-such-cmd": executable file not found in $PATH', 127),
        (("/no/such/file",), "no such file or directory", 127),
        (("/etc",), 'exec: "/etc": permission denied', 126),
    ],
    ids=["not-in-path", "missing-path", "directory"],
)
def test_probe_that_cannot_start_fails_in_dockers_words(
    harness: Harness, args: tuple[str, ...], phrase: str, code: int
) -> None:
    async def go() -> None:
        cid = await harness.running()
        req = ProbeRequest(
            cid=cid,
            runtime=harness.runtime,
            process=ProcessSpec(args=args, env=(PATH,)),
            timeout=10,
            output_limit=4096,
        )
        with pytest.raises(PierError) as caught:
            await harness.driver.probe(req)
        message = str(caught.value)
        assert message.startswith("OCI runtime exec failed: ")
        assert phrase in message
        assert isinstance(caught.value, InvalidParameter)
        assert start_error_exit_code(message) == code

    asyncio.run(go())
