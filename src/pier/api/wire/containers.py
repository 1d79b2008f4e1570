"""Docker's container JSON -> Pier's container dataclasses.

Parsing accepts what the docker CLI, docker-py and compose send (every HostConfig field,
most at their zero value); rendering is in `container_json`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from pier.api.wire import gojson

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

# Where each part of the body sits for Go's decoder (see gojson): the body decodes into
# moby's container.CreateRequest, which embeds Config.
_TOP = "CreateRequest"
_HC = "HostConfig.HostConfig"  # HostConfig's own fields; a nested struct's start with its name


def _paths(value: Any, field: str) -> tuple[str, ...] | None:
    """MaskedPaths/ReadonlyPaths: null keeps Docker's defaults, a list replaces them."""
    if value is None:
        return None
    return gojson.strings(value, field)


def _str_slice(value: Any, field: str) -> tuple[str, ...] | None:
    """moby's StrSlice: null, a string or a list of strings. Its decoder tries a list,
    then a string, and answers with the string attempt's error."""
    if value is None:
        return None
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise gojson.type_error(value, field, "string")


def _map(value: Any, field: str) -> dict[str, str]:
    """A Go map[string]string: a null value is Go's "", another kind the decoder's 400
    (it would otherwise reach the container as its Python text)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise gojson.type_error(value, field, "map[string]string")
    out = {}
    for k, v in value.items():
        if v is not None and not isinstance(v, str):
            raise gojson.type_error(v, field, "string")
        out[str(k)] = v or ""
    return out


def _object(value: Any, field: str, go_type: str) -> Mapping[str, Any]:
    """A Go struct (or pointer to one) in the body: null is its zero value."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise gojson.type_error(value, field, go_type)
    return value


def _annotations(value: Any) -> dict[str, str]:
    out = _map(value, f"{_HC}.Annotations")
    if "" in out:  # moby's verifyPlatformContainerSettings
        raise InvalidParameter(
            "invalid Annotations: the empty string is not permitted as an annotation key"
        )
    return out


def _keys(value: Any) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, dict) else ()


def console_size(value: Any, field: str = f"{_HC}.ConsoleSize") -> tuple[int, int]:
    """Docker's ConsoleSize, a Go [2]uint: [height, width] of the client's terminal, or
    null. As Go's decoder, a shorter list leaves zeros and a longer one is cut."""
    if value is None:
        return (0, 0)
    if not isinstance(value, list):
        raise gojson.type_error(value, field, "[2]uint")
    size = [gojson.integer(v, field, "uint", unsigned=True) for v in value[:2]]
    size += [0] * (2 - len(size))
    return (size[0], size[1])


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
        env=gojson.strings(body.get("Env"), f"{_TOP}.Env"),
        cmd=_str_slice(body.get("Cmd"), f"{_TOP}.Cmd"),
        entrypoint=_str_slice(body.get("Entrypoint"), f"{_TOP}.Entrypoint"),
        working_dir=str(body.get("WorkingDir") or ""),
        labels=_map(body.get("Labels"), f"{_TOP}.Labels"),
        exposed_ports=_keys(body.get("ExposedPorts")),
        volumes=_keys(body.get("Volumes")),
        stop_signal=str(body.get("StopSignal") or ""),
        stop_timeout=(
            None
            if body.get("StopTimeout") is None
            else gojson.integer(body["StopTimeout"], f"{_TOP}.StopTimeout")
        ),
        healthcheck=body.get("Healthcheck") or None,
        on_build=gojson.strings(body.get("OnBuild"), f"{_TOP}.OnBuild"),
        shell=_str_slice(body.get("Shell"), f"{_TOP}.Shell"),
        args_escaped=bool(body.get("ArgsEscaped")),
        network_disabled=bool(body.get("NetworkDisabled")),
    )
    for item in config.env:
        if item.startswith("="):
            raise InvalidParameter(f"invalid environment variable: {item}")
    hc = _object(body.get("HostConfig"), f"{_TOP}.HostConfig", "container.HostConfig")
    host_config = parse_host_config(hc)
    endpoints = parse_endpoints(body.get("NetworkingConfig"))
    mac = str(body.get("MacAddress") or "")  # Config.MacAddress, before API 1.44
    if mac:
        mode = host_config.network_mode or "default"
        first = endpoints.get(mode, AttachRequest())
        endpoints = {**endpoints, mode: replace(first, mac=first.mac or mac)}
    limits = parse_limit_fields(hc)
    return config, replace(host_config, endpoints=endpoints, **limits)


def parse_endpoints(networking: Any) -> dict[str, AttachRequest]:
    """NetworkingConfig.EndpointsConfig: network -> aliases, IPAMConfig, MAC, links."""
    networking = _object(networking, f"{_TOP}.NetworkingConfig", "network.NetworkingConfig")
    path = "NetworkingConfig.EndpointsConfig"
    endpoints = networking.get("EndpointsConfig")
    if endpoints is None:
        return {}
    if not isinstance(endpoints, Mapping):
        raise gojson.type_error(
            endpoints, f"NetworkingConfig.{path}", "map[string]*network.EndpointSettings"
        )
    return {
        str(name): parse_endpoint(settings, path=path, holder="NetworkingConfig")
        for name, settings in endpoints.items()
    }


def parse_endpoint(
    settings: Any, *, path: str = "EndpointConfig", holder: str = "ConnectOptions"
) -> AttachRequest:
    """EndpointSettings at `path` in the body, a field of the struct `holder` (the
    defaults: network connect's body, moby's network.ConnectOptions)."""
    settings = _object(settings, f"{holder}.{path}", "network.EndpointSettings")
    field = f"EndpointSettings.{path}"
    ipam = _object(settings.get("IPAMConfig"), f"{field}.IPAMConfig", "network.EndpointIPAMConfig")
    in_ipam = f"EndpointIPAMConfig.{path}.IPAMConfig"
    return AttachRequest(
        aliases=gojson.strings(settings.get("Aliases"), f"{field}.Aliases"),
        ipv4=gojson.string(ipam.get("IPv4Address"), f"{in_ipam}.IPv4Address"),
        ipv6=gojson.string(ipam.get("IPv6Address"), f"{in_ipam}.IPv6Address"),
        mac=gojson.string(settings.get("MacAddress"), f"{field}.MacAddress"),
        links=gojson.strings(settings.get("Links"), f"{field}.Links"),
        driver_opts=_map(settings.get("DriverOpts"), f"{field}.DriverOpts"),
    )


def parse_host_config(hc: Mapping[str, Any]) -> HostConfig:
    rp = _object(hc.get("RestartPolicy"), f"{_HC}.RestartPolicy", "container.RestartPolicy")
    policy = parse_restart_policy(rp)
    auto_remove = bool(hc.get("AutoRemove"))
    if auto_remove and policy.name != "no":
        raise InvalidParameter("can't create 'AutoRemove' container with restart policy")
    log_config = _object(hc.get("LogConfig"), f"{_HC}.LogConfig", "container.LogConfig")
    # Checked, and completed with the daemon's defaults, at create (containers.logconfig).
    log_type = gojson.string(log_config.get("Type"), "LogConfig.HostConfig.LogConfig.Type")
    pids = gojson.integer(hc.get("PidsLimit"), f"{_HC}.PidsLimit", "int64")
    return HostConfig(
        network_mode=str(hc.get("NetworkMode") or ""),
        runtime=str(hc.get("Runtime") or ""),
        init=hc.get("Init") if isinstance(hc.get("Init"), bool) else None,
        auto_remove=auto_remove,
        privileged=bool(hc.get("Privileged")),
        readonly_rootfs=bool(hc.get("ReadonlyRootfs")),
        cap_add=_str_slice(hc.get("CapAdd"), f"{_HC}.CapAdd") or (),
        cap_drop=_str_slice(hc.get("CapDrop"), f"{_HC}.CapDrop") or (),
        security_opt=gojson.strings(hc.get("SecurityOpt"), f"{_HC}.SecurityOpt"),
        restart_policy=policy,
        log_type=log_type,
        log_opts=_map(log_config.get("Config"), "LogConfig.HostConfig.LogConfig.Config"),
        binds=gojson.strings(hc.get("Binds"), f"{_HC}.Binds"),
        extra_hosts=gojson.strings(hc.get("ExtraHosts"), f"{_HC}.ExtraHosts"),
        dns=gojson.strings(hc.get("Dns"), f"{_HC}.Dns"),
        dns_search=gojson.strings(hc.get("DnsSearch"), f"{_HC}.DnsSearch"),
        dns_options=gojson.strings(hc.get("DnsOptions"), f"{_HC}.DnsOptions"),
        ipc_mode=str(hc.get("IpcMode") or ""),
        pid_mode=str(hc.get("PidMode") or ""),
        uts_mode=str(hc.get("UTSMode") or ""),
        userns_mode=str(hc.get("UsernsMode") or ""),
        shm_size=gojson.integer(hc.get("ShmSize"), f"{_HC}.ShmSize", "int64"),
        sysctls=_map(hc.get("Sysctls"), f"{_HC}.Sysctls"),
        annotations=_annotations(hc.get("Annotations")),
        volume_driver=gojson.string(hc.get("VolumeDriver"), f"{_HC}.VolumeDriver"),
        ulimits=_ulimits(hc.get("Ulimits")),
        group_add=gojson.strings(hc.get("GroupAdd"), f"{_HC}.GroupAdd"),
        pids_limit=None if pids <= 0 else pids,
        oom_score_adj=gojson.integer(hc.get("OomScoreAdj"), f"{_HC}.OomScoreAdj"),
        cgroup_parent=str(hc.get("CgroupParent") or ""),
        console_size=console_size(hc.get("ConsoleSize")),
        port_bindings=parse_bindings(hc.get("PortBindings")),
        publish_all_ports=bool(hc.get("PublishAllPorts")),
        links=gojson.strings(hc.get("Links"), f"{_HC}.Links"),
        masked_paths_unconfined=hc.get("MaskedPaths") == [] and hc.get("ReadonlyPaths") == [],
        masked_paths=_paths(hc.get("MaskedPaths"), f"{_HC}.MaskedPaths"),
        readonly_paths=_paths(hc.get("ReadonlyPaths"), f"{_HC}.ReadonlyPaths"),
        mounts=_mounts(hc.get("Mounts")),
        tmpfs=_map(hc.get("Tmpfs"), f"{_HC}.Tmpfs"),
        volumes_from=gojson.strings(hc.get("VolumesFrom"), f"{_HC}.VolumesFrom"),
        devices=parse_devices(hc.get("Devices")),
    )


def _mounts(value: Any) -> tuple[Mapping[str, Any], ...]:
    """HostConfig.Mounts as sent; checked at create (containers.mounts)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise gojson.type_error(value, f"{_HC}.Mounts", "[]mount.Mount")
    for m in value:
        if not isinstance(m, Mapping):
            raise gojson.type_error(m, f"{_HC}.Mounts", "mount.Mount")
    return tuple(value)


def _ulimits(value: Any) -> tuple[Ulimit, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise gojson.type_error(value, f"{_HC}.Ulimits", "[]*units.Ulimit")
    out = []
    field = "Ulimit.HostConfig.Ulimits"
    for u in value:
        u = _object(u, f"{_HC}.Ulimits", "units.Ulimit")
        out.append(
            Ulimit(
                name=gojson.string(u.get("Name"), f"{field}.Name"),
                soft=gojson.integer(u.get("Soft"), f"{field}.Soft", "int64"),
                hard=gojson.integer(u.get("Hard"), f"{field}.Hard", "int64"),
            )
        )
    return tuple(out)
