"""watch_monitor on a real process: the exit is seen through its pidfd, and the
callback runs outside the context of whoever asked (a request's context holds its
lease, which a reader living as long as the container would otherwise keep)."""

from __future__ import annotations

import asyncio
import contextvars
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
