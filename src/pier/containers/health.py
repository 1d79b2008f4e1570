"""Health checks, as dockerd runs them (moby daemon/health.go).

A container whose config has a check (`HEALTHCHECK`, `--health-cmd`) gets a monitor
task while it runs unpaused: every interval (the start interval during the start
period while still `starting`) it runs the probe as an exec through the exec path,
with its timeout, and records the result in `State.Health`: `healthy` at once on exit
code 0, `unhealthy` after `retries` failures in a row (failures inside the start period
do not count while `starting`), the last five results kept. A change of status is a
`health_status: <status>` event. When the monitor stops (the container exits or is
paused) the status becomes `unhealthy`, as moby's CloseMonitorChannel; a start resets
it to `starting` and the failing streak to 0, keeping the log.

The monitors follow the container's own events (start, die, pause, unpause, destroy)
from the event bus, so no start path needs to know about them; each monitor is its own
task, so a slow probe never delays another container's. The health is saved on the
record at each probe, so it survives a daemon restart, which keeps the status and
resumes probing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from pier import timefmt
from pier.containers.healthstate import Health, HealthResult, HealthStatus
from pier.containers.model import Container
from pier.containers.store import ContainerStore
from pier.errors import InvalidParameter, PierError
from pier.events import EventBus, EventFilter

log = logging.getLogger(__name__)

_NS = 1_000_000_000
DEFAULT_INTERVAL = 30 * _NS
DEFAULT_TIMEOUT = 30 * _NS
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * _NS
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MINIMUM_DURATION = 1_000_000  # 1 ms, moby's containertypes.MinimumDuration


class Prober(Protocol):
    async def probe(self, cid: str, cmd: tuple[str, ...], *, timeout: float) -> _ProbeResult: ...

    def forget_probes(self, cid: str) -> None:
        """The container's probes are over until it starts again."""
        ...


class _ProbeResult(Protocol):
    @property
    def exit_code(self) -> int: ...
    @property
    def output(self) -> str: ...
    @property
    def timed_out(self) -> bool: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthConfig:
    """Docker's HealthConfig with its defaults applied (durations in nanoseconds)."""

    test: tuple[str, ...]
    interval: int = DEFAULT_INTERVAL
    timeout: int = DEFAULT_TIMEOUT
    start_period: int = DEFAULT_START_PERIOD
    start_interval: int = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES


def _duration(raw: Mapping[str, Any], key: str) -> int:
    value = raw.get(key) or 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(
            f"json: cannot unmarshal into Go struct field HealthConfig.Healthcheck.{key} "
            "of type time.Duration"
        )
    return int(value)


def validate(raw: Mapping[str, Any] | None) -> None:
    """moby's validateHealthCheck: a 400 at create."""
    if not raw:
        return
    for key in ("Interval", "Timeout"):
        value = _duration(raw, key)
        if value and value < MINIMUM_DURATION:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    retries = raw.get("Retries") or 0
    if not isinstance(retries, int) or retries < 0:
        raise InvalidParameter("Retries in Healthcheck cannot be negative")
    for key in ("StartPeriod", "StartInterval"):
        value = _duration(raw, key)
        if value and value < MINIMUM_DURATION:
            raise InvalidParameter(f"{key} in Healthcheck cannot be less than 1ms")
    test = raw.get("Test")
    if test is not None and (
        not isinstance(test, list) or not all(isinstance(t, str) for t in test)
    ):
        raise InvalidParameter("json: cannot unmarshal into Go struct field HealthConfig.Test")


def merge(user: Mapping[str, Any] | None, image: Mapping[str, Any] | None) -> Any:
    """moby's merge of the image's check into the container's: each unset field of the
    container's comes from the image's."""
    if image is None:
        return user
    if user is None:
        return image
    out = dict(user)
    for key in ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if not out.get(key) and image.get(key):
            out[key] = image[key]
    return out


def config_of(record: Container) -> HealthConfig | None:
    """The check `record` runs, or None (no check, `NONE`, or an unknown kind, which
    dockerd ignores with a warning in its log)."""
    raw = record.config.healthcheck
    if not raw:
        return None
    test = tuple(raw.get("Test") or ())
    if not test or test[0] not in ("CMD", "CMD-SHELL"):
        if test and test[0] != "NONE":
            log.warning("unknown health check type %r in container %s", test[0], record.short_id)
        return None
    command = test[1:]
    if test[0] == "CMD-SHELL":
        command = (*(record.config.shell or ("/bin/sh", "-c")), *command)
    if not command:
        return None
    return HealthConfig(
        test=command,
        interval=_duration(raw, "Interval") or DEFAULT_INTERVAL,
        timeout=_duration(raw, "Timeout") or DEFAULT_TIMEOUT,
        start_period=_duration(raw, "StartPeriod") or DEFAULT_START_PERIOD,
        start_interval=_duration(raw, "StartInterval") or DEFAULT_START_INTERVAL,
        retries=int(raw.get("Retries") or 0) or DEFAULT_RETRIES,
    )


def go_duration(ns: int) -> str:
    """Go's time.Duration.String() ("1s", "500ms", "1m30s", "1.5s")."""
    if ns == 0:
        return "0s"
    if ns < 1000:
        return f"{ns}ns"
    if ns < 1_000_000:
        return f"{_trim(ns / 1000)}µs"
    if ns < _NS:
        return f"{_trim(ns / 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * _NS)
    minutes, rest = divmod(rest, 60 * _NS)
    seconds = _trim(rest / _NS)
    if hours:
        return f"{hours}h{minutes}m{seconds}s"
    if minutes:
        return f"{minutes}m{seconds}s"
    return f"{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def after_probe(
    health: Health, result: HealthResult, config: HealthConfig, *, started_at: str
) -> Health:
    """moby's handleProbeResult, pure."""
    entries = (*health.log, result)[-MAX_LOG_ENTRIES:]
    if result.exit_code == 0:
        return Health(status=HealthStatus.HEALTHY, failing_streak=0, log=entries)
    counts = True
    if health.status is HealthStatus.STARTING:
        since_start = timefmt.parse_ns(result.start) - timefmt.parse_ns(started_at)
        counts = since_start >= config.start_period
    if not counts:
        return replace(health, log=entries)
    streak = health.failing_streak + 1
    status = HealthStatus.UNHEALTHY if streak >= config.retries else health.status
    return Health(status=status, failing_streak=streak, log=entries)


class HealthMonitor:
    def __init__(self, *, store: ContainerStore, events: EventBus, prober: Prober) -> None:
        self._store = store
        self._events = events
        self._prober = prober
        self._monitors: dict[str, asyncio.Task[None]] = {}
        self._follower: asyncio.Task[None] | None = None
        self.probes = 0  # probes run since the daemon started (metrics)

    # -- following the containers ----------------------------------------------------

    async def start(self) -> None:
        """Follow container events; then watch every running container with a check
        (those an earlier daemon left running keep their status)."""
        ready = asyncio.Event()
        self._follower = asyncio.create_task(self._follow(ready), name="health-follower")
        await ready.wait()
        for record in list(self._store):
            if record.state.status == "running" and config_of(record) is not None:
                self._watch(record.id)

    async def _follow(self, ready: asyncio.Event) -> None:
        wanted = EventFilter(
            {"type": ["container"], "event": ["start", "die", "pause", "unpause", "destroy"]}
        )
        stream = self._events.subscribe(filter=wanted)
        first = asyncio.ensure_future(anext(stream))
        await asyncio.sleep(0)  # the subscription exists once the generator has begun
        ready.set()
        try:
            event = await first
            while True:
                self._on_event(event.action, event.actor_id)
                event = await anext(stream)
        except StopAsyncIteration:
            return
        finally:
            await stream.aclose()

    def _on_event(self, action: str, cid: str) -> None:
        if action == "start":
            record = self._store.find(cid)
            if record is None or config_of(record) is None:
                return
            health = record.health or Health()
            self._save(cid, replace(health, status=HealthStatus.STARTING, failing_streak=0))
            self._watch(cid)
        elif action == "unpause":
            record = self._store.find(cid)
            if record is not None and config_of(record) is not None:
                self._watch(cid)
        elif action in ("die", "pause"):
            if self._unwatch(cid):
                record = self._store.find(cid)
                if record is not None and record.health is not None:
                    self._save(cid, replace(record.health, status=HealthStatus.UNHEALTHY))
        elif action == "destroy":
            self._unwatch(cid)

    def _watch(self, cid: str) -> None:
        self._unwatch(cid)
        task = asyncio.create_task(self._monitor(cid), name=f"health-{cid[:12]}")
        self._monitors[cid] = task

    def _unwatch(self, cid: str) -> bool:
        self._prober.forget_probes(cid)
        task = self._monitors.pop(cid, None)
        if task is None:
            return False
        task.cancel()
        return True

    # -- one container ---------------------------------------------------------------

    async def _monitor(self, cid: str) -> None:
        record = self._store.find(cid)
        # A container's config does not change while it runs.
        config = config_of(record) if record is not None else None
        if config is None:
            return
        try:
            while True:
                record = self._store.find(cid)
                if record is None:
                    return
                await asyncio.sleep(self._interval(record, config) / _NS)
                await self._probe_once(cid, config)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("health monitor of %s failed", cid[:12])

    @staticmethod
    def _interval(record: Container, config: HealthConfig) -> int:
        try:
            since_start = time.time_ns() - timefmt.parse_ns(record.state.started_at)
        except ValueError:
            since_start = 0
        status = record.health.status if record.health else HealthStatus.STARTING
        if since_start < config.start_period and status is HealthStatus.STARTING:
            return config.start_interval
        return config.interval

    async def _probe_once(self, cid: str, config: HealthConfig) -> None:
        start = timefmt.now()
        self.probes += 1
        try:
            outcome = await self._prober.probe(cid, config.test, timeout=config.timeout / _NS)
            exit_code, output = outcome.exit_code, outcome.output
            if outcome.timed_out:
                message = f"Health check exceeded timeout ({go_duration(config.timeout)})"
                output = f"{message}: {output}" if output else message
        except PierError as exc:
            exit_code, output = -1, exc.message
        result = HealthResult(start=start, end=timefmt.now(), exit_code=exit_code, output=output)
        record = self._store.find(cid)
        if record is None or cid not in self._monitors:
            return
        before = record.health or Health()
        after = after_probe(before, result, config, started_at=record.state.started_at)
        self._save(cid, after, announce=True)

    def _save(self, cid: str, health: Health, *, announce: bool = False) -> None:
        """Record `health`; after a probe (`announce`), a change of status is an event
        (dockerd sends none for the resets at start and stop)."""
        record = self._store.find(cid)
        if record is None:
            return
        previous = record.health.status if record.health else None
        record = self._store.save(replace(record, health=health))
        if announce and previous is not health.status:
            attrs = {"image": record.config.image, "name": record.name, **record.config.labels}
            self._events.publish("container", f"health_status: {health.status}", record.id, attrs)

    async def close(self) -> None:
        tasks = list(self._monitors.values())
        if self._follower is not None:
            tasks.append(self._follower)
        self._monitors.clear()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
