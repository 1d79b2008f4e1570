"""Prometheus metrics on daemon.json's `metrics-addr` (dockerd's option).

Served on their own TCP listener (loopback when the address names no host), as
dockerd serves them: per container the CPU time, memory, restarts and health (read
from the cgroups at each scrape, off the event loop), the daemon's containers by state,
events and health checks, and the API's requests: counts and latencies per route.
Rendered by prometheus_client from a collector, so nothing is kept per container
between scrapes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pier.containers.model import Container
from pier.errors import InvalidParameter, PierError
from pier.runtime.cgroupstats import ContainerStats

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_STATES = ("running", "paused", "stopped")


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsSources:
    """Where the figures come from (the composition root wires them)."""

    containers: Callable[[], Iterable[Container]]
    # The cgroup stats of a container with a process; None once it has gone.
    cgroup: Callable[[Container], Awaitable[ContainerStats | None]]
    events_published: Callable[[], int]
    health_checks: Callable[[], int]


def parse_addr(addr: str) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `:port` (loopback)."""
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidParameter(f"invalid metrics-addr: {addr!r} (want host:port)")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Snapshot:
    containers: tuple[Container, ...]
    cgroups: dict[str, ContainerStats]
    events: int
    health_checks: int


class _Collector(Collector):
    """The per-scrape figures, from a snapshot taken before rendering."""

    def __init__(self) -> None:
        self.snapshot: _Snapshot | None = None

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        if snap is None:
            return
        labels = ["id", "name", "image"]
        cpu = CounterMetricFamily(
            "pier_container_cpu_usage_seconds", "CPU time the container used", labels=labels
        )
        mem = GaugeMetricFamily(
            "pier_container_memory_usage_bytes", "Memory the container uses", labels=labels
        )
        limit = GaugeMetricFamily(
            "pier_container_memory_limit_bytes", "The container's memory limit", labels=labels
        )
        restarts = CounterMetricFamily(
            "pier_container_restarts", "Times a restart policy restarted it", labels=labels
        )
        health = GaugeMetricFamily(
            "pier_container_health_status",
            "1 for the container's health status (containers with a health check)",
            labels=[*labels, "status"],
        )
        states = GaugeMetricFamily(
            "engine_daemon_container_states_containers",
            "The count of containers in various states",
            labels=["state"],
        )
        counts = dict.fromkeys(_STATES, 0)
        for c in snap.containers:
            values = [c.id, c.name, c.config.image]
            state = "paused" if c.state.paused else "running" if c.state.running else "stopped"
            counts[state] += 1
            restarts.add_metric(values, c.restart_count)
            if c.health is not None:
                for status in ("starting", "healthy", "unhealthy"):
                    health.add_metric([*values, status], 1.0 if c.health.status == status else 0.0)
            stats = snap.cgroups.get(c.id)
            if stats is not None:
                cpu.add_metric(values, stats.cpu.total_ns / 1e9)
                mem.add_metric(values, stats.memory.usage)
                limit.add_metric(values, stats.memory.limit)
        for state, n in counts.items():
            states.add_metric([state], n)
        events = CounterMetricFamily("engine_daemon_events", "The number of events logged")
        events.add_metric([], snap.events)
        checks = CounterMetricFamily(
            "engine_daemon_health_checks", "The total number of health checks"
        )
        checks.add_metric([], snap.health_checks)
        yield from (cpu, mem, limit, restarts, health, states, events, checks)


class Metrics:
    """The registry, the API middleware that counts requests, and the listener."""

    def __init__(self, *, addr: str, sources: MetricsSources) -> None:
        self._addr = parse_addr(addr)
        self._sources = sources
        self._registry = CollectorRegistry(auto_describe=True)
        self._collector = _Collector()
        self._registry.register(self._collector)
        self._requests = Counter(
            "pier_http_requests",
            "API requests answered",
            ["method", "route", "status"],
            registry=self._registry,
        )
        self._latency = Histogram(
            "pier_http_request_duration_seconds",
            "Time to answer an API request (to the end of its response)",
            ["method", "route"],
            registry=self._registry,
        )
        self._runner: web.AppRunner | None = None
        self._lock = asyncio.Lock()

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except PierError as exc:
            status = exc.status
            raise
        finally:
            info = request.match_info.route.resource
            route = info.canonical if info is not None else "unmatched"
            self._requests.labels(request.method, route, str(status)).inc()
            self._latency.labels(request.method, route).observe(time.perf_counter() - started)

    async def render(self) -> bytes:
        async with self._lock:  # one snapshot at a time: the collector holds it
            containers = tuple(self._sources.containers())
            running = [c for c in containers if c.state.has_process]
            found = await asyncio.gather(*(self._sources.cgroup(c) for c in running))
            self._collector.snapshot = _Snapshot(
                containers=containers,
                cgroups={c.id: s for c, s in zip(running, found, strict=True) if s is not None},
                events=self._sources.events_published(),
                health_checks=self._sources.health_checks(),
            )
            try:
                return await asyncio.to_thread(generate_latest, self._registry)
            finally:
                self._collector.snapshot = None

    async def start(self) -> None:
        async def metrics(request: web.Request) -> web.StreamResponse:
            return web.Response(body=await self.render(), headers={"Content-Type": CONTENT_TYPE})

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        host, port = self._addr
        await web.TCPSite(self._runner, host, port).start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
