"""Docker's container JSON from Pier's container records: inspect
(ContainerInspectResponse), list (ContainerSummary) and the human status, in the shapes
of moby's v1.47 swagger and what dockerd returns for the same container.

Go's encoding/json decides many details clients see: a nil slice or map is `null`, an
`omitempty` field is absent when zero. Comments name the dockerd field where it matters.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from pier.api.wire.devices import render_devices
from pier.api.wire.networks import (
    render_networks,
    render_port_bindings,
    render_ports,
    summary_ports,
)
from pier.containers.model import Container, ContainerConfig, HostConfig, Status, ThrottleDevice
from pier.humanize import human_duration, parse_time, since
from pier.networking.links import parse_link
from pier.networking.model import ContainerNetworking
from pier.runtime.cgroups import CgroupMode, detect_mode
from pier.runtime.spec import MASKED_PATHS, READONLY_PATHS

_ZERO_TIME = "0001-01-01T00:00:00Z"


def status_text(c: Container, now: datetime | None = None) -> str:
    """Docker's human `Status` (container.State.String())."""
    s = c.state
    now = now or datetime.now(UTC)
    if s.status == Status.RUNNING or s.status == Status.PAUSED:
        text = "Up " + human_duration(since(s.started_at, now))
        if s.status == Status.PAUSED:
            return text + " (Paused)"
        if c.health is not None:
            shown = c.health.status.value
            return f"{text} (health: {shown})" if shown == "starting" else f"{text} ({shown})"
        return text
    if s.status == Status.RESTARTING:
        return f"Restarting ({s.exit_code}) {human_duration(since(s.finished_at, now))} ago"
    if s.status == Status.REMOVING:
        return "Removal In Progress"
    if s.status == Status.DEAD:
        return "Dead"
    if s.started_at == _ZERO_TIME:
        return "Created"
    return f"Exited ({s.exit_code}) {human_duration(since(s.finished_at, now))} ago"


def _health(c: Container) -> dict[str, Any]:
    """State.Health, present once a container with a check has started."""
    if c.health is None:
        return {}
    h = c.health
    return {
        "Health": {
            "Status": h.status.value,
            "FailingStreak": h.failing_streak,
            "Log": [
                {"Start": r.start, "End": r.end, "ExitCode": r.exit_code, "Output": r.output}
                for r in h.log
            ],
        }
    }


def _unix(ts: str) -> int:
    return int(parse_time(ts).timestamp())


def _network_ids(n: ContainerNetworking) -> dict[str, str]:
    return {net.name: net.id for net, _ in n.attachments}


def _networks(n: ContainerNetworking) -> dict[str, Any]:
    return render_networks(n, _network_ids(n))


def _command(c: Container) -> str:
    """moby's list Command: arguments with a space are single-quoted."""
    args = [f"'{a}'" if " " in a else a for a in c.args]
    return " ".join((c.path, *args)) if args else c.path


def render_summary(
    c: Container,
    n: ContainerNetworking,
    *,
    size_rw: int | None = None,
    size_root: int | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.config.image,
        "ImageID": c.image_id,
        "Command": _command(c),
        "Created": _unix(c.created),
        "Ports": summary_ports(n, c.config.exposed_ports),
        "Labels": dict(c.config.labels),
        "State": c.state.status.value,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.network_mode or "bridge"},
        "NetworkSettings": {"Networks": _networks(n)},
        "Mounts": render_mounts(c),
    }
    if size_rw is not None:
        out["SizeRw"] = size_rw
        out["SizeRootFs"] = size_root if size_root is not None else size_rw
    return out


def render_mounts(c: Container) -> list[dict[str, Any]]:
    """moby's MountPoint list (a `--tmpfs` mount is not in it)."""
    out = []
    for m in c.binds:
        if not m.listed:
            continue
        item: dict[str, Any] = {"Type": m.type}
        if m.type == "volume":
            item["Name"] = m.name
        item |= {"Source": m.source, "Destination": m.destination}
        if m.type == "volume":
            item["Driver"] = m.driver or "local"
        item |= {"Mode": m.mode, "RW": not m.read_only, "Propagation": m.propagation}
        out.append(item)
    return out


def render_config(c: ContainerConfig) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Hostname": c.hostname,
        "Domainname": c.domainname,
        "User": c.user,
        "AttachStdin": c.attach_stdin,
        "AttachStdout": c.attach_stdout,
        "AttachStderr": c.attach_stderr,
        "Tty": c.tty,
        "OpenStdin": c.open_stdin,
        "StdinOnce": c.stdin_once,
        "Env": list(c.env),
        "Cmd": None if c.cmd is None else list(c.cmd),
        "Image": c.image,
        "Volumes": {v: {} for v in c.volumes} or None,
        "WorkingDir": c.working_dir,
        "Entrypoint": None if c.entrypoint is None else list(c.entrypoint),
        "OnBuild": list(c.on_build) or None,
        "Labels": dict(c.labels),
    }
    if c.exposed_ports:
        out["ExposedPorts"] = {p: {} for p in c.exposed_ports}
    if c.healthcheck is not None:
        out["Healthcheck"] = dict(c.healthcheck)
    if c.stop_signal:
        out["StopSignal"] = c.stop_signal
    if c.stop_timeout is not None:
        out["StopTimeout"] = c.stop_timeout
    if c.shell is not None:
        out["Shell"] = list(c.shell)
    if c.args_escaped:
        out["ArgsEscaped"] = True
    return out


def _system_paths(
    h: HostConfig, default: tuple[str, ...], custom: tuple[str, ...] | None
) -> list[str] | None:
    """MaskedPaths/ReadonlyPaths as dockerd stores them at create: the defaults or the
    client's own list, none (null) for a privileged container, [] with
    `systempaths=unconfined`."""
    if h.privileged:
        return None
    if "systempaths=unconfined" in h.security_opt:
        return []
    return list(default if custom is None else custom)


def _throttles(devices: tuple[ThrottleDevice, ...]) -> list[dict[str, Any]]:
    return [{"Path": d.path, "Rate": d.rate} for d in devices]


def _links(h: HostConfig, name: str) -> list[str] | None:
    """moby's inspect shows the link index: "/target:/container/alias", and nothing on
    a user-defined network, where links are only DNS names."""
    if (h.network_mode or "default") not in ("default", "bridge"):
        return None
    out = []
    for text in h.links:
        target, alias = parse_link(text)
        out.append(f"/{target}:/{name}/{alias}")
    return out or None


def render_host_config(
    h: HostConfig, *, cgroup_v2: bool | None = None, name: str = ""
) -> dict[str, Any]:
    """Every field dockerd 27 (API 1.47) returns for `docker create`, Pier's values where
    it has them and Docker's defaults elsewhere. `cgroup_v2` None: ask this host."""
    if cgroup_v2 is None:
        cgroup_v2 = detect_mode() is CgroupMode.V2
    out: dict[str, Any] = {
        "Binds": list(h.binds) or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": h.log_type, "Config": dict(h.log_opts)},
        "NetworkMode": h.network_mode or "bridge",
        "PortBindings": render_port_bindings(h.port_bindings),
        "RestartPolicy": {
            "Name": h.restart_policy.name,
            "MaximumRetryCount": h.restart_policy.maximum_retry_count,
        },
        "AutoRemove": h.auto_remove,
        "VolumeDriver": h.volume_driver,
        "VolumesFrom": list(h.volumes_from) or None,
        "ConsoleSize": list(h.console_size),
        "CapAdd": list(h.cap_add) or None,
        "CapDrop": list(h.cap_drop) or None,
        # moby adaptContainerSettings: a cgroup namespace of its own on cgroup v2 (even
        # privileged), the host's on v1; Pier's spec does the same.
        "CgroupnsMode": h.cgroupns_mode or ("private" if cgroup_v2 else "host"),
        "Dns": list(h.dns),
        "DnsOptions": list(h.dns_options),
        "DnsSearch": list(h.dns_search),
        "ExtraHosts": list(h.extra_hosts) or None,
        "GroupAdd": list(h.group_add) or None,
        "IpcMode": h.ipc_mode or "private",
        "Cgroup": "",
        "Links": _links(h, name),
        "OomScoreAdj": h.oom_score_adj,
        "PidMode": h.pid_mode,
        "Privileged": h.privileged,
        "PublishAllPorts": h.publish_all_ports,
        "ReadonlyRootfs": h.readonly_rootfs,
        "SecurityOpt": list(h.security_opt) or None,
        "UTSMode": h.uts_mode,
        "UsernsMode": h.userns_mode,
        "ShmSize": h.shm_size or 67108864,
        "Runtime": h.runtime,
        "Isolation": "",
        "CpuShares": h.cpu_shares,
        "Memory": h.memory,
        "NanoCpus": h.nano_cpus,
        "CgroupParent": h.cgroup_parent,
        "BlkioWeight": h.blkio_weight,
        "BlkioWeightDevice": [{"Path": d.path, "Weight": d.weight} for d in h.blkio_weight_device],
        "BlkioDeviceReadBps": _throttles(h.blkio_throttle.read_bps),
        "BlkioDeviceWriteBps": _throttles(h.blkio_throttle.write_bps),
        "BlkioDeviceReadIOps": _throttles(h.blkio_throttle.read_iops),
        "BlkioDeviceWriteIOps": _throttles(h.blkio_throttle.write_iops),
        "CpuPeriod": h.cpu_period,
        "CpuQuota": h.cpu_quota,
        "CpuRealtimePeriod": h.cpu_realtime_period,
        "CpuRealtimeRuntime": h.cpu_realtime_runtime,
        "CpusetCpus": h.cpuset_cpus,
        "CpusetMems": h.cpuset_mems,
        "Devices": render_devices(h.devices),
        "DeviceCgroupRules": list(h.device_cgroup_rules) or None,
        "DeviceRequests": None,
        "MemoryReservation": h.memory_reservation,
        "MemorySwap": h.memory_swap,
        "MemorySwappiness": h.memory_swappiness,
        # dockerd stores false when the client sent nothing (adaptContainerSettings).
        "OomKillDisable": bool(h.oom_kill_disable),
        "PidsLimit": h.pids_limit,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in h.ulimits],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": _system_paths(h, MASKED_PATHS, h.masked_paths),
        "ReadonlyPaths": _system_paths(h, READONLY_PATHS, h.readonly_paths),
    }
    # omitempty in moby's HostConfig: absent rather than null when unset.
    if h.sysctls:
        out["Sysctls"] = dict(h.sysctls)
    if h.annotations:
        out["Annotations"] = dict(h.annotations)
    if h.mounts:
        out["Mounts"] = [dict(m) for m in h.mounts]
    if h.tmpfs:
        out["Tmpfs"] = dict(h.tmpfs)
    if h.init is not None:
        out["Init"] = h.init
    return out


def render_inspect(
    c: Container,
    n: ContainerNetworking,
    *,
    container_dir: str,
    log_path: str,
    size_rw: int | None = None,
    exec_ids: Sequence[str] = (),
    cgroup_v2: bool | None = None,
) -> dict[str, Any]:
    s = c.state
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": list(c.args),
        "State": {
            "Status": s.status.value,
            "Running": s.running,
            "Paused": s.paused,
            "Restarting": s.restarting,
            "OOMKilled": s.oom_killed,
            "Dead": s.dead,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
            **_health(c),
        },
        "Image": c.image_id,
        "ResolvConfPath": f"{container_dir}/resolv.conf",
        "HostnamePath": f"{container_dir}/hostname",
        "HostsPath": f"{container_dir}/hosts",
        "LogPath": log_path,
        "Name": "/" + c.name,
        "RestartCount": c.restart_count,
        "Driver": "overlay2",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": list(exec_ids) or None,
        "HostConfig": render_host_config(c.host_config, cgroup_v2=cgroup_v2, name=c.name),
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {"MergedDir": f"{container_dir}/rootfs"},
        },
        "Mounts": render_mounts(c),
        "Config": render_config(c.config),
        "NetworkSettings": _network_settings(c, n),
    }
    if size_rw is not None:
        out["SizeRw"] = size_rw
        out["SizeRootFs"] = size_rw
    return out


def _network_settings(c: Container, n: ContainerNetworking) -> dict[str, Any]:
    """dockerd's NetworkSettings: per network, plus the legacy top-level fields that
    mirror the default bridge's endpoint."""
    networks = _networks(n)
    bridge = networks.get("bridge") or {}
    return {
        "Bridge": "",
        "SandboxID": n.sandbox_key.rsplit("/", 1)[-1] if n.sandbox_key else "",
        "SandboxKey": n.sandbox_key,
        "Ports": render_ports(n, c.config.exposed_ports, c.state.running),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": bridge.get("EndpointID", ""),
        "Gateway": bridge.get("Gateway", ""),
        "GlobalIPv6Address": bridge.get("GlobalIPv6Address", ""),
        "GlobalIPv6PrefixLen": bridge.get("GlobalIPv6PrefixLen", 0),
        "IPAddress": bridge.get("IPAddress", ""),
        "IPPrefixLen": bridge.get("IPPrefixLen", 0),
        "IPv6Gateway": bridge.get("IPv6Gateway", ""),
        "MacAddress": bridge.get("MacAddress", ""),
        "Networks": networks,
    }
