"""The container record: what was asked (ContainerConfig, HostConfig, both frozen, and
the requests parsed from them at create), and what happened (State, which moves only
through the transitions of `pier.containers.state`).

Field meanings follow Docker's `Config` and `HostConfig` (swagger ContainerConfig and
HostConfig); the names are snake_case here and PascalCase only on the wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pier.containers.healthstate import Health
from pier.containers.mounts import MountPoint
from pier.containers.state import State, Status
from pier.networking.model import AttachRequest, PortBinding

__all__ = [
    "EMPTY",
    "Container",
    "ContainerConfig",
    "HostConfig",
    "RestartPolicy",
    "State",
    "Status",
    "Ulimit",
]

EMPTY: Mapping[str, str] = MappingProxyType({})
_NO_ENDPOINTS: Mapping[str, AttachRequest] = MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class ContainerConfig:
    image: str  # as the client named it (Config.Image)
    hostname: str = ""
    domainname: str = ""
    user: str = ""
    attach_stdin: bool = False
    attach_stdout: bool = False
    attach_stderr: bool = False
    tty: bool = False
    open_stdin: bool = False
    stdin_once: bool = False
    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str = ""
    stop_timeout: int | None = None
    healthcheck: Mapping[str, Any] | None = None
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] | None = None
    args_escaped: bool = False
    network_disabled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    name: str = "no"  # "", "no", "always", "unless-stopped", "on-failure"
    maximum_retry_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Ulimit:
    name: str
    soft: int
    hard: int


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceMapping:
    """`--device /dev/x:/dev/y:rwm` as the client sent it; the node's numbers are read
    at each start (moby's DevicesFromPath), so a recreated host device still works."""

    path_on_host: str
    path_in_container: str
    cgroup_permissions: str = "rwm"


@dataclass(frozen=True, slots=True, kw_only=True)
class ThrottleDevice:
    """`--device-read-bps /dev/sda:1mb` resolved at create: the device's numbers."""

    path: str  # as the client gave it (inspect shows it)
    major: int
    minor: int
    rate: int  # bytes or operations per second


@dataclass(frozen=True, slots=True, kw_only=True)
class WeightDevice:
    """`--blkio-weight-device /dev/sda:200` resolved at create: the device's numbers."""

    path: str  # as the client gave it (inspect shows it)
    major: int
    minor: int
    weight: int


@dataclass(frozen=True, slots=True, kw_only=True)
class BlkioThrottle:
    read_bps: tuple[ThrottleDevice, ...] = ()
    write_bps: tuple[ThrottleDevice, ...] = ()
    read_iops: tuple[ThrottleDevice, ...] = ()
    write_iops: tuple[ThrottleDevice, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HostConfig:
    network_mode: str = ""
    runtime: str = ""
    init: bool | None = None
    auto_remove: bool = False
    privileged: bool = False
    readonly_rootfs: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    restart_policy: RestartPolicy = field(default_factory=RestartPolicy)
    log_type: str = "json-file"
    log_opts: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    binds: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    ipc_mode: str = ""
    pid_mode: str = ""
    uts_mode: str = ""
    shm_size: int = 0
    sysctls: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # `--volume-driver`: the driver of the container's `-v` and image volumes.
    volume_driver: str = ""
    # `--annotation`: the OCI spec's annotations, for the runtime and its hooks.
    annotations: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    ulimits: tuple[Ulimit, ...] = ()
    group_add: tuple[str, ...] = ()
    memory: int = 0
    memory_swap: int = 0
    cpu_shares: int = 0
    cpu_period: int = 0
    cpu_quota: int = 0
    nano_cpus: int = 0
    cpuset_cpus: str = ""
    pids_limit: int | None = None
    oom_score_adj: int = 0
    cgroup_parent: str = ""
    # Live limits (`docker update` changes them too); see containers.limits.
    memory_reservation: int = 0
    memory_swappiness: int | None = None
    oom_kill_disable: bool | None = None
    cpuset_mems: str = ""
    blkio_weight: int = 0
    blkio_throttle: BlkioThrottle = field(default_factory=BlkioThrottle)
    blkio_weight_device: tuple[WeightDevice, ...] = ()
    # microseconds; the daemon's cpu-rt-* settings give the parent cgroups their share
    cpu_realtime_period: int = 0
    cpu_realtime_runtime: int = 0
    device_cgroup_rules: tuple[str, ...] = ()
    devices: tuple[DeviceMapping, ...] = ()
    cgroupns_mode: str = ""  # "host" or "private"; "" is the daemon's default
    console_size: tuple[int, int] = (0, 0)  # (height, width), API 1.42+
    # Published ports (-p) parsed at create; -P publishes the exposed ports at start.
    port_bindings: tuple[PortBinding, ...] = ()
    publish_all_ports: bool = False
    links: tuple[str, ...] = ()  # legacy --link, "name:alias"
    # NetworkingConfig.EndpointsConfig at create: network name -> endpoint settings.
    endpoints: Mapping[str, AttachRequest] = field(default_factory=lambda: _NO_ENDPOINTS)
    # `systempaths=unconfined`: the docker CLI sends it as empty MaskedPaths and
    # ReadonlyPaths.
    masked_paths_unconfined: bool = False
    # Custom MaskedPaths/ReadonlyPaths from the API (None: Docker's defaults).
    masked_paths: tuple[str, ...] | None = None
    readonly_paths: tuple[str, ...] | None = None
    # Mount requests as the client sent them (inspect shows them); the record's
    # `binds` holds them parsed.
    mounts: tuple[Mapping[str, Any], ...] = ()
    tmpfs: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    volumes_from: tuple[str, ...] = ()
    # `--userns`: "" (the daemon's remapping, if any) or "host" (none).
    userns_mode: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Container:
    id: str
    name: str  # without Docker's leading "/"
    created: str
    image_id: str
    path: str
    args: tuple[str, ...]
    config: ContainerConfig
    host_config: HostConfig
    state: State = field(default_factory=State)
    restart_count: int = 0
    # Every mount point (Binds, Mounts, Tmpfs, VolumesFrom, anonymous volumes)
    # parsed at create, volumes named; what the run path mounts. The name is from when
    # it held only binds: stored records keep it.
    binds: tuple[MountPoint, ...] = ()
    # Only for containers with a health check (State.Health).
    health: Health | None = None

    @property
    def short_id(self) -> str:
        return self.id[:12]
