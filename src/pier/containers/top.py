"""`docker top`: the host's `ps` with the client's arguments, limited to the rows of
the container's processes (moby's ContainerTop and parsePSOutput)."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from pier.config import RuntimeConfig
from pier.containers.model import Container
from pier.errors import Conflict, InvalidParameter, SystemFailure

_PS_ARG = re.compile(r"\s+([^\s]*)=\s*(PID[^\s]*)")
_ASCII_SPACE = re.compile(r"[\t\n\f\r ]+")


class TopRuntime(Protocol):
    async def pids(self, cid: str, runtime: RuntimeConfig) -> list[int]: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TopResult:
    titles: tuple[str, ...]
    processes: tuple[tuple[str, ...], ...]


def check_ps_args(ps_args: str) -> None:
    for key, value in _PS_ARG.findall(ps_args):
        if key != "pid":
            raise InvalidParameter(f'specifying "{key}={value}" is not allowed')


def _fields(line: str) -> list[str]:
    return [f for f in _ASCII_SPACE.split(line) if f]


def parse_ps(output: str, pids: set[int]) -> TopResult:
    lines = output.split("\n")
    titles = _fields(lines[0])
    if "PID" not in titles:
        raise SystemFailure("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    rows: list[tuple[str, ...]] = []
    previous_was_ours = False

    def add(fields: list[str]) -> None:
        # The last column (the command) keeps its spaces.
        head = fields[: len(titles) - 1]
        rows.append((*head, " ".join(fields[len(titles) - 1 :])))

    for line in lines[1:]:
        if not line:
            continue
        fields = _fields(line)
        if len(fields) <= pid_index:
            continue
        if fields[pid_index] == "-":  # a thread row (ps -L ...) of the row above
            if previous_was_ours:
                add(fields)
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            raise SystemFailure(f"Unexpected pid '{fields[pid_index]}'") from None
        previous_was_ours = pid in pids
        if previous_was_ours:
            add(fields)
    return TopResult(titles=tuple(titles), processes=tuple(rows))


def _run_ps(args: list[str], pids: list[int]) -> str:
    # `-q <pids>` first (quick), the arguments alone if this ps refuses it, as dockerd.
    quick = "-q" + ",".join(str(p) for p in pids)
    for argv in (["ps", *args, quick], ["ps", *args]):
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SystemFailure(f"ps: {exc}") from exc
        if done.returncode == 0:
            return done.stdout
        error = done.stderr.split("\n", 1)[0]
    raise SystemFailure(f"ps: {error or 'exit status ' + str(done.returncode)}")


class Top:
    def __init__(
        self,
        *,
        runtime: TopRuntime,
        runtime_config: Callable[[Container], RuntimeConfig],
    ) -> None:
        self._runtime = runtime
        self._runtime_config = runtime_config

    async def top(self, record: Container, ps_args: str) -> TopResult:
        ps_args = ps_args or "-ef"
        check_ps_args(ps_args)
        if record.state.restarting:
            raise Conflict(
                f"Container {record.id} is restarting, wait until the container is running"
            )
        if not record.state.has_process:
            raise Conflict(f"container {record.id} is not running")
        pids = await self._runtime.pids(record.id, self._runtime_config(record))
        output = await asyncio.to_thread(_run_ps, ps_args.split(" "), pids)
        return parse_ps(output, set(pids))
