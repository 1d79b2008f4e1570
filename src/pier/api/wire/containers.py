"""Docker's container JSON -> Pier's container dataclasses.

Parsing accepts what the docker CLI, docker-py and compose send (every HostConfig field,
most at their zero value); rendering is in `container_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

# Rendering lives in container_json; these names stay importable from here.
from pier.api.wire.container_json import render_inspect as render_inspect
from pier.api.wire.container_json import render_summary as render_summary
from pier.api.wire.container_json import status_text as status_text
from pier.api.wire.devices import parse_devices
from pier.api.wire.limits import parse_limit_fields, parse_restart_policy
from pier.api.wire.unsupported import refuse_unsupported
from pier.containers.model import ContainerConfig, HostConfig, Ulimit
from pier.errors import InvalidParameter
from pier.networking.model import AttachRequest
from pier.networking.ports import parse_bindings


def _paths(value: Any, field: str) -> tuple[str, ...] | None:
    """MaskedPaths/ReadonlyPaths: null keeps Docker's defaults, a list replaces them."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidParameter(f"json: cannot unmarshal {type(value).__name__} into {field}")


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


def _str(value: Any, field: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidParameter(f"json: cannot unmarshal {type(value).__name__} into {field}")
    return value


def _annotations(value: Any) -> dict[str, str]:
    # A map[string]string in moby: null is Go's "", a value of another kind the
    # decoder's 400 (it would otherwise reach the OCI spec as its Python text, "1").
    if isinstance(value, dict):
        value = {k: "" if v is None else v for k, v in value.items()}
        for v in value.values():
            if not isinstance(v, str):
                raise InvalidParameter(
                    f"json: cannot unmarshal {_go_json_kind(v)} into Go struct field "
                    "HostConfig.Annotations of type string"
                )
    out = _map(value, "Annotations")
    if "" in out:  # moby's verifyPlatformContainerSettings
        raise InvalidParameter(
            "invalid Annotations: the empty string is not permitted as an annotation key"
        )
    return out


def _go_json_kind(value: Any) -> str:
    """A JSON value's kind as Go's decoder names it in its errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return "array" if isinstance(value, list) else "object"


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
    refuse_unsupported(body)
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
    host_config = parse_host_config(body.get("HostConfig") or {})
    endpoints = parse_endpoints(body.get("NetworkingConfig"))
    mac = str(body.get("MacAddress") or "")  # Config.MacAddress, before API 1.44
    if mac:
        mode = host_config.network_mode or "default"
        first = endpoints.get(mode, AttachRequest())
        endpoints = {**endpoints, mode: replace(first, mac=first.mac or mac)}
    limits = parse_limit_fields(body.get("HostConfig") or {})
    return config, replace(host_config, endpoints=endpoints, **limits)


def parse_endpoints(networking: Any) -> dict[str, AttachRequest]:
    """NetworkingConfig.EndpointsConfig: network -> aliases, IPAMConfig, MAC, links."""
    if not networking:
        return {}
    if not isinstance(networking, Mapping):
        raise InvalidParameter("json: cannot unmarshal NetworkingConfig")
    return {
        str(name): parse_endpoint(settings)
        for name, settings in (networking.get("EndpointsConfig") or {}).items()
    }


def parse_endpoint(settings: Any) -> AttachRequest:
    if not settings:
        return AttachRequest()
    if not isinstance(settings, Mapping):
        raise InvalidParameter("json: cannot unmarshal EndpointSettings")
    ipam = settings.get("IPAMConfig") or {}
    return AttachRequest(
        aliases=_strs(settings.get("Aliases"), "Aliases"),
        ipv4=str(ipam.get("IPv4Address") or ""),
        ipv6=str(ipam.get("IPv6Address") or ""),
        mac=str(settings.get("MacAddress") or ""),
        links=_strs(settings.get("Links"), "Links"),
        driver_opts=_map(settings.get("DriverOpts"), "DriverOpts"),
    )


def parse_host_config(hc: Mapping[str, Any]) -> HostConfig:
    if not isinstance(hc, Mapping):
        raise InvalidParameter("json: cannot unmarshal HostConfig")
    rp = hc.get("RestartPolicy") or {}
    if not isinstance(rp, Mapping):
        raise InvalidParameter("json: cannot unmarshal HostConfig.RestartPolicy")
    policy = parse_restart_policy(rp)
    auto_remove = bool(hc.get("AutoRemove"))
    if auto_remove and policy.name != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    log_config = hc.get("LogConfig") or {}
    # Checked, and completed with the daemon's defaults, at create (containers.logconfig).
    log_type = str(log_config.get("Type") or "")
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
        userns_mode=str(hc.get("UsernsMode") or ""),
        shm_size=_int(hc.get("ShmSize"), "ShmSize"),
        sysctls=_map(hc.get("Sysctls"), "Sysctls"),
        annotations=_annotations(hc.get("Annotations")),
        volume_driver=_str(hc.get("VolumeDriver"), "VolumeDriver"),
        ulimits=ulimits,
        group_add=_strs(hc.get("GroupAdd"), "GroupAdd"),
        pids_limit=None if not pids or pids <= 0 else int(pids),
        oom_score_adj=_int(hc.get("OomScoreAdj"), "OomScoreAdj"),
        cgroup_parent=str(hc.get("CgroupParent") or ""),
        console_size=console_size(hc.get("ConsoleSize")),
        port_bindings=parse_bindings(hc.get("PortBindings")),
        publish_all_ports=bool(hc.get("PublishAllPorts")),
        links=_strs(hc.get("Links"), "Links"),
        masked_paths_unconfined=hc.get("MaskedPaths") == [] and hc.get("ReadonlyPaths") == [],
        masked_paths=_paths(hc.get("MaskedPaths"), "MaskedPaths"),
        readonly_paths=_paths(hc.get("ReadonlyPaths"), "ReadonlyPaths"),
        mounts=_mounts(hc.get("Mounts")),
        tmpfs=_map(hc.get("Tmpfs"), "Tmpfs"),
        volumes_from=_strs(hc.get("VolumesFrom"), "VolumesFrom"),
        devices=parse_devices(hc.get("Devices")),
    )


def _mounts(value: Any) -> tuple[Mapping[str, Any], ...]:
    """HostConfig.Mounts as sent; checked at create (containers.mounts)."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(m, Mapping) for m in value):
        raise InvalidParameter("json: cannot unmarshal into Go struct field HostConfig.Mounts")
    return tuple(value)
