"""A container's state and its transitions, as moby's `container.State` moves.

Every change of state is one of the functions below: each checks that the move is
allowed (raising Conflict or NotModified with dockerd's wording) and returns the new,
frozen State. Docker's flags map onto one `Status`:

- `running` is Docker's `State.Running`: true while the container is up, paused, or
  waiting for its restart policy to start it again (moby sets Running and Restarting
  together "because of all the checks in docker around rm/stop/etc");
- `has_process` is narrower: a live process exists (running or paused);
- `removing` is moby's RemovalInProgress and `dead` a removal that failed half-way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from pier import timefmt
from pier.errors import Conflict, NotModified


class Status(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    PAUSED = "paused"
    RESTARTING = "restarting"
    REMOVING = "removing"
    EXITED = "exited"
    DEAD = "dead"


_UP = frozenset({Status.RUNNING, Status.PAUSED, Status.RESTARTING})
_LIVE = frozenset({Status.RUNNING, Status.PAUSED})


@dataclass(frozen=True, slots=True, kw_only=True)
class State:
    status: Status = Status.CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = timefmt.ZERO
    finished_at: str = timefmt.ZERO
    # The last stop came from the API (stop/kill), so restart policies do not apply.
    stopped_by_user: bool = False

    @property
    def running(self) -> bool:
        """Docker's State.Running (true while paused or restarting too)."""
        return self.status in _UP

    @property
    def has_process(self) -> bool:
        return self.status in _LIVE

    @property
    def paused(self) -> bool:
        return self.status is Status.PAUSED

    @property
    def restarting(self) -> bool:
        return self.status is Status.RESTARTING

    @property
    def dead(self) -> bool:
        return self.status is Status.DEAD

    @property
    def removing(self) -> bool:
        return self.status is Status.REMOVING


# -- checks: may this happen now? -----------------------------------------------------


def check_start(state: State) -> None:
    """moby's ContainerStart checks, in its order."""
    if state.paused:
        raise Conflict("cannot start a paused container, try unpause instead")
    if state.running:
        raise NotModified("container already started")
    if state.removing or state.dead:
        raise Conflict("container is marked for removal and cannot be started")


def check_stop(state: State) -> None:
    if not state.running:
        raise NotModified("container is already stopped")


def check_kill(state: State, cid: str) -> None:
    if not state.running:
        raise Conflict(f"Container {cid} is not running")


def check_remove(state: State, name: str, *, force: bool) -> None:
    """moby's containerRm/cleanupContainer refusals (`name` as the client gave it)."""
    if state.removing:
        raise Conflict(f"removal of container {name} is already in progress")
    if state.running and not force:
        if state.paused:
            reason = "container is paused and must be unpaused first"
        else:
            reason = (
                f"container is {state.status}: stop the container before removing or force remove"
            )
        raise Conflict(f'cannot remove container "{name}": {reason}')


def check_exec(state: State, cid: str) -> None:
    if state.paused:
        raise Conflict(f"Container {cid} is paused, unpause the container before exec")
    if state.restarting:
        raise Conflict(f"Container {cid} is restarting, wait until the container is running")
    if not state.running:
        raise Conflict(f"container {cid} is not running")


# -- transitions ----------------------------------------------------------------------


def started(state: State, *, pid: int, at: str) -> State:
    """The process runs (from created, exited, or a restart policy's wait)."""
    if state.status not in (Status.CREATED, Status.EXITED, Status.RESTARTING):
        raise Conflict(f"cannot start a container that is {state.status}")
    return State(status=Status.RUNNING, pid=pid, started_at=at, finished_at=state.finished_at)


def start_failed(state: State, *, error: str, exit_code: int) -> State:
    """A start that did not get the process going: Docker keeps the status and
    records the error and the exit code the CLI reports (126, 127, 128)."""
    status = Status.EXITED if state.status is Status.RESTARTING else state.status
    return replace(state, status=status, pid=0, error=error, exit_code=exit_code)


def exited(state: State, *, exit_code: int, at: str, oom_killed: bool) -> State:
    """The process ended and will not be restarted (moby's SetStopped)."""
    return replace(
        state,
        status=Status.EXITED,
        pid=0,
        exit_code=exit_code,
        oom_killed=oom_killed,
        finished_at=_not_before(at, state.started_at),
    )


def restarting(state: State, *, exit_code: int, at: str, oom_killed: bool) -> State:
    """The process ended and the restart policy will start it again after its
    back-off (moby's SetRestarting: Running and Restarting both true, no pid)."""
    return replace(
        exited(state, exit_code=exit_code, at=at, oom_killed=oom_killed),
        status=Status.RESTARTING,
    )


def restart_abandoned(state: State) -> State:
    """A pending restart was cancelled (stop, kill, rm -f) or failed."""
    if state.status is not Status.RESTARTING:
        return state
    return replace(state, status=Status.EXITED)


def stopped_by_user(state: State) -> State:
    """A stop or kill came from the API: restart policies must not undo it."""
    return replace(state, stopped_by_user=True)


def paused(state: State, cid: str) -> State:
    if state.paused:
        raise Conflict(f"Container {cid} is already paused")
    if state.restarting:
        raise Conflict(f"Container {cid} is restarting, wait until the container is running")
    if state.status is not Status.RUNNING:
        raise Conflict(f"Container {cid} is not running")
    return replace(state, status=Status.PAUSED)


def unpaused(state: State, cid: str) -> State:
    if not state.paused:
        raise Conflict(f"Container {cid} is not paused")
    return replace(state, status=Status.RUNNING)


def removing(state: State, name: str) -> State:
    if state.removing:
        raise Conflict(f"removal of container {name} is already in progress")
    if state.has_process:
        raise Conflict(f"container {name} is still running")
    return replace(state, status=Status.REMOVING)


def dead(state: State, *, error: str) -> State:
    """Removal failed half-way: only another `rm` (which retries) applies now."""
    return replace(state, status=Status.DEAD, pid=0, error=error)


def _not_before(at: str, start: str) -> str:
    # An exit file's mtime comes from the kernel's coarse clock, which can trail the
    # start time taken by a tick: the exit is never before the start.
    if start == timefmt.ZERO:
        return at
    return max(at, start, key=timefmt.parse_ns)
