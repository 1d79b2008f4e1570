"""watch_monitor on a real process: the exit is seen through its pidfd, and the
callback runs outside the context of whoever asked (a request's context holds its
lease, which a reader living as long as the container would otherwise keep)."""

from __future__ import annotations

import asyncio
import contextvars
import os
import resource
import subprocess
from pathlib import Path

from pier.runtime.monitor import watch_monitor

REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


def test_exit_is_reported_outside_the_callers_context(tmp_path: Path) -> None:
    marker = f"pier-watch-{tmp_path.name}"
    proc = subprocess.Popen(["sh", "-c", 'read _; : "$0"', marker], stdin=subprocess.PIPE)
    try:
        (tmp_path / "conmon.pid").write_text(f"{proc.pid}\n")

        async def main() -> str:
            seen: asyncio.Future[str] = asyncio.get_running_loop().create_future()
            REQUEST.set("POST /containers/x/start")
            watch_monitor(tmp_path, marker.encode(), lambda: seen.set_result(REQUEST.get()))
            await asyncio.sleep(0)
            assert not seen.done()
            assert proc.stdin is not None
            proc.stdin.close()  # the process ends
            await asyncio.to_thread(proc.wait)
            return await asyncio.wait_for(seen, 10)

        assert asyncio.run(main()) == "none"
    finally:
        proc.kill()
        proc.wait()


def test_waiting_on_a_descriptor_past_1024() -> None:
    # A daemon with a thousand containers holds more descriptors than select takes.
    from pier.runtime.monitor import wait_pid_exit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    held = []
    proc = subprocess.Popen(["sleep", "30"])
    try:
        null = os.open("/dev/null", os.O_RDONLY)
        held.append(null)
        while held[-1] < 1100:
            held.append(os.dup(null))
        assert not wait_pid_exit(proc.pid, 0.05)  # its pidfd is numbered past 1100
        proc.kill()
        assert wait_pid_exit(proc.pid, 10)
    finally:
        proc.kill()
        proc.wait()
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
