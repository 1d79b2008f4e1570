"""An exit is recorded even when releasing the container's resources fails: a record
left running would make a later stop or `rm -f` wait for an exit that never comes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import pytest

from pier import timefmt
from pier.containers import state as states
from pier.containers.announce import Announcer
from pier.containers.lifecycle import LifecycleRegistry, WaitCondition
from pier.containers.model import Container, ContainerConfig, HostConfig, State
from pier.containers.store import ContainerStore
from pier.containers.supervisor import Supervisor
from pier.events import EventBus
from pier.metadata import Database
from pier.runtime.base import ExitStatus


class FailingTeardown:
    def __init__(self) -> None:
        self.released: list[str] = []

    async def release(self, record: Container) -> None:
        self.released.append(record.id)
        raise ValueError("filedescriptor out of range in select()")


def _running(cid: str) -> Container:
    return Container(
        id=cid,
        name="c",
        created="2026-01-01T00:00:00Z",
        image_id="sha256:" + "0" * 64,
        path="sleep",
        args=("60",),
        config=ContainerConfig(image="busybox"),
        host_config=HostConfig(),
        state=states.started(State(), pid=4242, at="2026-01-01T00:00:01Z"),
    )


def test_the_exit_is_recorded_when_release_fails(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def main() -> None:
        db = Database(tmp_path / "pier.db")
        store = ContainerStore(db=db)
        teardown = FailingTeardown()
        lifecycle = LifecycleRegistry()
        unused = cast(Any, None)
        supervisor = Supervisor(
            store=store,
            paths=unused,
            run_path=unused,
            runtime=unused,
            runtime_config=unused,
            check_runtime=unused,
            lifecycle=lifecycle,
            teardown=cast(Any, teardown),
            announce=Announcer(store=store, events=EventBus()),
        )
        cid = "a" * 64
        store.add(_running(cid))
        lifecycle.started(cid)
        waiter = lifecycle.waiter(cid, WaitCondition.NOT_RUNNING)
        status = ExitStatus(exit_code=3, finished_at=timefmt.now(), oom_killed=False)
        await supervisor.on_exit(cid, status)
        try:
            assert teardown.released == [cid]
            record = store.get(cid)
            assert not record.state.running and record.state.exit_code == 3
            assert waiter.done() and waiter.result().status_code == 3
        finally:
            store.close()
            db.close()

    asyncio.run(main())
    assert "releasing aaaaaaaaaaaa after its exit" in caplog.text
