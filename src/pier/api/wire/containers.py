"""Docker's container JSON <-> Pier's container dataclasses.

Parsing accepts what the docker CLI, docker-py and compose send (every HostConfig field,
most at their zero value); rendering produces the shapes of moby's v1.47 swagger
(ContainerInspectResponse, ContainerSummary).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pier.containers.model import (
    Container,
    ContainerConfig,
    HostConfig,
    RestartPolicy,
    Status,
    Ulimit,
)
from pier.errors import InvalidParameter
from pier.humanize import human_duration, parse_time, since

_ZERO_TIME = "0001-01-01T00:00:00Z"


def _strs(value: Any, field: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidParameter(f"json: cannot unmarshal {type(value).__name__} into {field}")


def _str_slice(value: Any, field: str) -> tuple[str, ...] | None:
    """Docker's StrSlice: null, a string or a list of strings."""
    if value is None:
        return None
    return _strs(value, field)


def _map(value: Any, field: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidParameter(f"json: cannot unmarshal into Go struct field {field}")
    return {str(k): str(v) for k, v in value.items()}


def _keys(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, dict) else ()


def _int(value: Any, field: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"json: cannot unmarshal into Go struct field {field} of type int")
    return int(value)


def console_size(value: Any) -> tuple[int, int]:
    """Docker's ConsoleSize: [height, width] of the client's terminal, or null."""
    if value is None:
        return (0, 0)
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)
    ):
        raise InvalidParameter("json: cannot unmarshal ConsoleSize: want [height, width]")
    return (value[0], value[1])


def parse_create(body: Mapping[str, Any]) -> tuple[ContainerConfig, HostConfig]:
    image = body.get("Image")
    if not image or not isinstance(image, str):
        raise InvalidParameter("config cannot be empty in order to create a container")
    config = ContainerConfig(
        image=image,
        hostname=str(body.get("Hostname") or ""),
        domainname=str(body.get("Domainname") or ""),
        user=str(body.get("User") or ""),
        attach_stdin=bool(body.get("AttachStdin")),
        attach_stdout=bool(body.get("AttachStdout")),
        attach_stderr=bool(body.get("AttachStderr")),
        tty=bool(body.get("Tty")),
        open_stdin=bool(body.get("OpenStdin")),
        stdin_once=bool(body.get("StdinOnce")),
        env=_strs(body.get("Env"), "Config.Env"),
        cmd=_str_slice(body.get("Cmd"), "Config.Cmd"),
        entrypoint=_str_slice(body.get("Entrypoint"), "Config.Entrypoint"),
        working_dir=str(body.get("WorkingDir") or ""),
        labels=_map(body.get("Labels"), "Config.Labels"),
        exposed_ports=_keys(body.get("ExposedPorts")),
        volumes=_keys(body.get("Volumes")),
        stop_signal=str(body.get("StopSignal") or ""),
        stop_timeout=(
            None if body.get("StopTimeout") is None else _int(body["StopTimeout"], "StopTimeout")
        ),
        healthcheck=body.get("Healthcheck") or None,
        on_build=_strs(body.get("OnBuild"), "Config.OnBuild"),
        shell=_str_slice(body.get("Shell"), "Config.Shell"),
        args_escaped=bool(body.get("ArgsEscaped")),
        network_disabled=bool(body.get("NetworkDisabled")),
    )
    for item in config.env:
        if item.startswith("="):
            raise InvalidParameter(f"invalid environment variable: {item}")
    return config, parse_host_config(body.get("HostConfig") or {})


def parse_host_config(hc: Mapping[str, Any]) -> HostConfig:
    if not isinstance(hc, Mapping):
        raise InvalidParameter("json: cannot unmarshal HostConfig")
    rp = hc.get("RestartPolicy") or {}
    policy = RestartPolicy(
        name=str(rp.get("Name") or "no"),
        maximum_retry_count=_int(rp.get("MaximumRetryCount"), "MaximumRetryCount"),
    )
    if policy.name not in ("no", "always", "unless-stopped", "on-failure"):
        raise InvalidParameter(
            f"invalid restart policy: unknown policy '{policy.name}'; "
            "use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
        )
    if policy.maximum_retry_count and policy.name != "on-failure":
        raise InvalidParameter(
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        )
    if policy.maximum_retry_count < 0:
        raise InvalidParameter("invalid restart policy: maximum retry count cannot be negative")
    auto_remove = bool(hc.get("AutoRemove"))
    if auto_remove and policy.name != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    log_config = hc.get("LogConfig") or {}
    # conmon writes k8s-file underneath, read back with json-file's semantics, so
    # clients are told "json-file" (docker-py only returns run() output for it).
    log_type = str(log_config.get("Type") or "json-file")
    if log_type in ("local", "k8s-file"):
        log_type = "json-file"
    if log_type not in ("json-file", "none"):
        raise InvalidParameter(
            "failed to create task for container: logger: no log driver named "
            f"'{log_type}' is registered"
        )
    ulimits = tuple(
        Ulimit(
            name=str(u.get("Name")),
            soft=_int(u.get("Soft"), "Soft"),
            hard=_int(u.get("Hard"), "Hard"),
        )
        for u in (hc.get("Ulimits") or [])
    )
    pids = hc.get("PidsLimit")
    return HostConfig(
        network_mode=str(hc.get("NetworkMode") or ""),
        runtime=str(hc.get("Runtime") or ""),
        init=hc.get("Init") if isinstance(hc.get("Init"), bool) else None,
        auto_remove=auto_remove,
        privileged=bool(hc.get("Privileged")),
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        cap_add=_strs(hc.get("CapAdd"), "CapAdd"),
        cap_drop=_strs(hc.get("CapDrop"), "CapDrop"),
        security_opt=_strs(hc.get("SecurityOpt"), "SecurityOpt"),
        restart_policy=policy,
        log_type=log_type,
        log_opts=_map(log_config.get("Config"), "LogConfig.Config"),
        binds=_strs(hc.get("Binds"), "Binds"),
        extra_hosts=_strs(hc.get("ExtraHosts"), "ExtraHosts"),
        dns=_strs(hc.get("Dns"), "Dns"),
        dns_search=_strs(hc.get("DnsSearch"), "DnsSearch"),
        dns_options=_strs(hc.get("DnsOptions"), "DnsOptions"),
        ipc_mode=str(hc.get("IpcMode") or ""),
        pid_mode=str(hc.get("PidMode") or ""),
        uts_mode=str(hc.get("UTSMode") or ""),
        shm_size=_int(hc.get("ShmSize"), "ShmSize"),
        sysctls=_map(hc.get("Sysctls"), "Sysctls"),
        ulimits=ulimits,
        group_add=_strs(hc.get("GroupAdd"), "GroupAdd"),
        memory=_int(hc.get("Memory"), "Memory"),
        memory_swap=_int(hc.get("MemorySwap"), "MemorySwap"),
        cpu_shares=_int(hc.get("CpuShares"), "CpuShares"),
        cpu_period=_int(hc.get("CpuPeriod"), "CpuPeriod"),
        cpu_quota=_int(hc.get("CpuQuota"), "CpuQuota"),
        nano_cpus=_int(hc.get("NanoCpus"), "NanoCpus"),
        cpuset_cpus=str(hc.get("CpusetCpus") or ""),
        pids_limit=None if not pids or pids <= 0 else int(pids),
        oom_score_adj=_int(hc.get("OomScoreAdj"), "OomScoreAdj"),
        cgroup_parent=str(hc.get("CgroupParent") or ""),
        console_size=console_size(hc.get("ConsoleSize")),
    )


# -- rendering ------------------------------------------------------------------


def status_text(c: Container, now: datetime | None = None) -> str:
    """Docker's human `Status` (container.State.String())."""
    s = c.state
    now = now or datetime.now(UTC)
    if s.status == Status.RUNNING or s.status == Status.PAUSED:
        text = "Up " + human_duration(since(s.started_at, now))
        return text + " (Paused)" if s.status == Status.PAUSED else text
    if s.status == Status.RESTARTING:
        return f"Restarting ({s.exit_code}) {human_duration(since(s.finished_at, now))} ago"
    if s.status == Status.REMOVING:
        return "Removal In Progress"
    if s.status == Status.DEAD:
        return "Dead"
    if s.started_at == _ZERO_TIME:
        return "Created"
    return f"Exited ({s.exit_code}) {human_duration(since(s.finished_at, now))} ago"


def _unix(ts: str) -> int:
    return int(parse_time(ts).timestamp())


def _network_name(c: Container) -> str:
    mode = c.host_config.network_mode or "none"
    return mode


def _networks(c: Container) -> dict[str, Any]:
    name = _network_name(c)
    if name.startswith("container:"):
        return {}
    return {
        name: {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": None,
            "MacAddress": "",
            "NetworkID": "",
            "EndpointID": "",
            "Gateway": "",
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DriverOpts": None,
            "DNSNames": None,
        }
    }


def _command(c: Container) -> str:
    """moby's list Command: arguments with a space are single-quoted."""
    args = [f"'{a}'" if " " in a else a for a in c.args]
    return " ".join((c.path, *args)) if args else c.path


def render_summary(
    c: Container, *, size_rw: int | None = None, size_root: int | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Id": c.id,
        "Names": ["/" + c.name],
        "Image": c.config.image,
        "ImageID": c.image_id,
        "Command": _command(c),
        "Created": _unix(c.created),
        "Ports": [],
        "Labels": dict(c.config.labels),
        "State": c.state.status.value,
        "Status": status_text(c),
        "HostConfig": {"NetworkMode": c.host_config.network_mode or "none"},
        "NetworkSettings": {"Networks": _networks(c)},
        "Mounts": [],
    }
    if size_rw is not None:
        out["SizeRw"] = size_rw
        out["SizeRootFs"] = size_root if size_root is not None else size_rw
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


def render_host_config(h: HostConfig) -> dict[str, Any]:
    return {
        "Binds": list(h.binds) or None,
        "ContainerIDFile": "",
        "LogConfig": {"Type": h.log_type, "Config": dict(h.log_opts)},
        "NetworkMode": h.network_mode or "none",
        "PortBindings": {},
        "RestartPolicy": {
            "Name": h.restart_policy.name,
            "MaximumRetryCount": h.restart_policy.maximum_retry_count,
        },
        "AutoRemove": h.auto_remove,
        "VolumeDriver": "",
        "VolumesFrom": None,
        "ConsoleSize": list(h.console_size),
        "CapAdd": list(h.cap_add) or None,
        "CapDrop": list(h.cap_drop) or None,
        "CgroupnsMode": "host",
        "Dns": list(h.dns),
        "DnsOptions": list(h.dns_options),
        "DnsSearch": list(h.dns_search),
        "ExtraHosts": list(h.extra_hosts) or None,
        "GroupAdd": list(h.group_add) or None,
        "IpcMode": h.ipc_mode or "private",
        "Cgroup": "",
        "Links": None,
        "OomScoreAdj": h.oom_score_adj,
        "PidMode": h.pid_mode,
        "Privileged": h.privileged,
        "PublishAllPorts": False,
        "ReadonlyRootfs": h.readonly_rootfs,
        "SecurityOpt": list(h.security_opt) or None,
        "UTSMode": h.uts_mode,
        "UsernsMode": "",
        "ShmSize": h.shm_size or 67108864,
        "Runtime": h.runtime,
        "Isolation": "",
        "CpuShares": h.cpu_shares,
        "Memory": h.memory,
        "NanoCpus": h.nano_cpus,
        "CgroupParent": h.cgroup_parent,
        "BlkioWeight": 0,
        "BlkioWeightDevice": [],
        "BlkioDeviceReadBps": [],
        "BlkioDeviceWriteBps": [],
        "BlkioDeviceReadIOps": [],
        "BlkioDeviceWriteIOps": [],
        "CpuPeriod": h.cpu_period,
        "CpuQuota": h.cpu_quota,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": h.cpuset_cpus,
        "CpusetMems": "",
        "Devices": [],
        "DeviceCgroupRules": None,
        "DeviceRequests": None,
        "MemoryReservation": 0,
        "MemorySwap": h.memory_swap,
        "MemorySwappiness": None,
        "OomKillDisable": None,
        "PidsLimit": h.pids_limit,
        "Ulimits": [{"Name": u.name, "Soft": u.soft, "Hard": u.hard} for u in h.ulimits],
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "Init": h.init,
        "MaskedPaths": [],
        "ReadonlyPaths": [],
        "Sysctls": dict(h.sysctls) or None,
    }


def render_inspect(
    c: Container,
    *,
    container_dir: str,
    log_path: str,
    size_rw: int | None = None,
    exec_ids: Sequence[str] = (),
) -> dict[str, Any]:
    s = c.state
    out: dict[str, Any] = {
        "Id": c.id,
        "Created": c.created,
        "Path": c.path,
        "Args": list(c.args),
        "State": {
            "Status": s.status.value,
            "Running": s.status in (Status.RUNNING, Status.PAUSED),
            "Paused": s.status == Status.PAUSED,
            "Restarting": s.status == Status.RESTARTING,
            "OOMKilled": s.oom_killed,
            "Dead": s.status == Status.DEAD,
            "Pid": s.pid,
            "ExitCode": s.exit_code,
            "Error": s.error,
            "StartedAt": s.started_at,
            "FinishedAt": s.finished_at,
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
        "HostConfig": render_host_config(c.host_config),
        "GraphDriver": {
            "Name": "overlay2",
            "Data": {"MergedDir": f"{container_dir}/rootfs"},
        },
        "Mounts": [],
        "Config": render_config(c.config),
        "NetworkSettings": {
            "Bridge": "",
            "SandboxID": "",
            "SandboxKey": "",
            "Ports": {},
            "HairpinMode": False,
            "LinkLocalIPv6Address": "",
            "LinkLocalIPv6PrefixLen": 0,
            "SecondaryIPAddresses": None,
            "SecondaryIPv6Addresses": None,
            "EndpointID": "",
            "Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "IPAddress": "",
            "IPPrefixLen": 0,
            "IPv6Gateway": "",
            "MacAddress": "",
            "Networks": _networks(c),
        },
    }
    if size_rw is not None:
        out["SizeRw"] = size_rw
        out["SizeRootFs"] = size_rw
    return out
