"""What `/version` and `/info` report: facts about this daemon and host.

The facts are plain values; `pier.api.wire.system` renders them as Docker's JSON.
"""

from __future__ import annotations

import os
import platform
import socket
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pier import API_VERSION, MIN_API_VERSION, __version__
from pier.config import DaemonConfig
from pier.containers.model import Status
from pier.runtime import cgroupcaps
from pier.runtime.cgroupcaps import CgroupCaps
from pier.runtime.cgroups import CgroupMode, detect_mode


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionFacts:
    version: str
    api_version: str
    min_api_version: str
    os: str
    arch: str  # Go's name: amd64, arm64
    kernel_version: str
    python_version: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeFacts:
    name: str
    path: str
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerCounts:
    total: int
    running: int
    paused: int

    @property
    def stopped(self) -> int:
        return self.total - self.running - self.paused


@dataclass(frozen=True, slots=True, kw_only=True)
class InfoFacts:
    id: str
    name: str  # the host's name
    containers: ContainerCounts
    images: int
    server_version: str
    data_root: str
    debug: bool
    open_fds: int
    system_time_nano: int
    cgroup_version: str  # "1" or "2"
    kernel_version: str
    operating_system: str
    architecture: str  # the kernel's name: x86_64, aarch64
    ncpu: int
    mem_total: int
    runtimes: tuple[RuntimeFacts, ...]
    default_runtime: str
    init_binary: str
    warnings: tuple[str, ...]
    network_drivers: tuple[str, ...] = ("bridge", "host", "null")
    caps: CgroupCaps = field(default_factory=CgroupCaps)
    logging_driver: str = "json-file"
    log_drivers: tuple[str, ...] = ("json-file", "local", "none")
    event_listeners: int = 0
    swarm: Mapping[str, Any] | None = None  # /info's Swarm block; None: inactive
    labels: tuple[str, ...] = ()  # the daemon's labels (daemon.json `labels`)
    userns: bool = False  # containers run in user namespaces (`--userns-remap`)
    # daemon.json `seccomp-profile` (`builtin`, `unconfined` or the file) and
    # `no-new-privileges`, listed in SecurityOptions as dockerd's fillSecurityOptions.
    seccomp_profile: str = "builtin"
    no_new_privileges: bool = False


def _arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _os_name() -> str:
    try:
        text = Path("/etc/os-release").read_text()
    except OSError:
        return "Linux"
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.partition("=")[2].strip().strip('"')
    return "Linux"


def host_warnings(caps: CgroupCaps) -> tuple[str, ...]:
    """dockerd's Warnings for what the host's cgroups cannot limit (daemon/info_unix.go)."""
    v2 = caps.version == 2
    checks = [
        (caps.memory_limit, "WARNING: No memory limit support"),
        (caps.swap_limit, "WARNING: No swap limit support"),
        (v2 or caps.kernel_memory_tcp, "WARNING: No kernel memory TCP limit support"),
        (v2 or caps.oom_kill_disable, "WARNING: No oom kill disable support"),
        (caps.cpu_cfs, "WARNING: No cpu cfs quota support"),
        (caps.cpu_cfs, "WARNING: No cpu cfs period support"),
        (caps.cpu_shares, "WARNING: No cpu shares support"),
        (caps.cpuset, "WARNING: No cpuset support"),
        (not v2 or caps.blkio_weight, "WARNING: No io.weight support"),
        (not v2 or caps.blkio_weight_device, "WARNING: No io.weight (per device) support"),
    ]
    for ok, v1_name, v2_name in (
        (caps.blkio_read_bps, "blkio throttle.read_bps_device", "io.max (rbps)"),
        (caps.blkio_write_bps, "blkio throttle.write_bps_device", "io.max (wbps)"),
        (caps.blkio_read_iops, "blkio throttle.read_iops_device", "io.max (riops)"),
        (caps.blkio_write_iops, "blkio throttle.write_iops_device", "io.max (wiops)"),
    ):
        checks.append((ok, f"WARNING: No {v2_name if v2 else v1_name} support"))
    return tuple(message for ok, message in checks if not ok)


def count(statuses: Iterable[Status]) -> ContainerCounts:
    total = running = paused = 0
    for status in statuses:
        total += 1
        # dockerd's counters: a container a restart policy is about to start again is
        # running (State.Running), as is a paused one, which has its own count.
        running += status in (Status.RUNNING, Status.RESTARTING)
        paused += status == Status.PAUSED
    return ContainerCounts(total=total, running=running, paused=paused)


class SystemInfo:
    def __init__(
        self,
        *,
        config: DaemonConfig,
        container_statuses: Callable[[], Iterable[Status]],
        image_count: Callable[[], Awaitable[int]],
        warnings: tuple[str, ...] = (),
        daemon_id: str,
        network_drivers: tuple[str, ...] = ("bridge", "host", "null"),
        caps: CgroupCaps | None = None,
        event_listeners: Callable[[], int] = lambda: 0,
        swarm_info: Callable[[], Awaitable[Mapping[str, Any]]] | None = None,
        swarm_status: Callable[[], str] = lambda: "inactive",
        userns: bool = False,
        labels: Callable[[], tuple[str, ...]] | None = None,
    ) -> None:
        self._labels = labels or (lambda: config.labels)  # a reload replaces them
        self._userns = userns
        self._swarm_info = swarm_info
        self._swarm_status = swarm_status
        self._caps = caps or cgroupcaps.detect()
        self._event_listeners = event_listeners
        self._network_drivers = network_drivers
        self._config = config
        self._container_statuses = container_statuses
        self._image_count = image_count
        self._warnings = warnings
        self._id = daemon_id

    @property
    def daemon_id(self) -> str:
        return self._id

    def swarm_status(self) -> str:
        """The `Swarm` header of /_ping: inactive, active/manager, active/worker."""
        return self._swarm_status()

    def version(self) -> VersionFacts:
        return VersionFacts(
            version=__version__,
            api_version=API_VERSION,
            min_api_version=MIN_API_VERSION,
            os="linux",
            arch=_arch(),
            kernel_version=os.uname().release,
            python_version=platform.python_version(),
        )

    async def info(self) -> InfoFacts:
        config = self._config
        return InfoFacts(
            id=self._id,
            name=socket.gethostname(),
            containers=count(self._container_statuses()),
            images=await self._image_count(),
            server_version=__version__,
            data_root=str(config.data_root),
            debug=config.log_level == "debug",
            open_fds=len(os.listdir("/proc/self/fd")),
            system_time_nano=time.time_ns(),
            cgroup_version="2" if detect_mode() is CgroupMode.V2 else "1",
            kernel_version=os.uname().release,
            operating_system=_os_name(),
            architecture=platform.machine(),
            ncpu=os.cpu_count() or 1,
            mem_total=os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"),
            runtimes=tuple(
                RuntimeFacts(name=name, path=rt.path, args=tuple(rt.args))
                for name, rt in config.runtimes.items()
            ),
            default_runtime=config.default_runtime,
            labels=self._labels(),
            init_binary=config.init_path,
            warnings=self._warnings
            + host_warnings(self._caps)
            + (
                ("WARNING: daemon is not using the default seccomp profile",)
                if config.seccomp_profile not in ("", "builtin")
                else ()
            ),
            network_drivers=self._network_drivers,
            caps=self._caps,
            logging_driver=config.log_driver,
            event_listeners=self._event_listeners(),
            swarm=await self._swarm_info() if self._swarm_info else None,
            userns=self._userns,
            seccomp_profile=config.seccomp_profile or "builtin",
            no_new_privileges=config.no_new_privileges,
        )
