"""Checks of a ServiceSpec (swarmkit's controlapi validation, in its words) and what
Pier refuses outright: overlay networks, secrets, configs, jobs, plugins."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pier.errors import InvalidParameter, NotImplementedByPier
from pier.swarm.constraints import parse_constraints

_DNS_LABEL = re.compile(r"^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$")
INGRESS_RANGE = (30000, 32767)  # swarmkit's dynamic port range
_MODES = {m.lower(): m for m in ("Replicated", "Global", "ReplicatedJob", "GlobalJob")}


def invalid(desc: str) -> InvalidParameter:
    return InvalidParameter(f"rpc error: code = InvalidArgument desc = {desc}")


def check(spec: Mapping[str, Any]) -> None:
    name = str(spec.get("Name") or "")
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise invalid("name must be valid as a DNS name component")
    template = spec.get("TaskTemplate") or {}
    if template.get("PluginSpec") or template.get("NetworkAttachmentSpec"):
        raise NotImplementedByPier("Pier runs container services only (no plugin services)")
    container = template.get("ContainerSpec")
    if not container or not container.get("Image"):
        raise invalid("ContainerSpec: image reference must be provided")
    if container.get("Secrets"):
        raise NotImplementedByPier("Pier does not support secrets in services")
    if container.get("Configs"):
        raise NotImplementedByPier("Pier does not support configs in services")
    if template.get("Networks") or spec.get("Networks"):
        raise NotImplementedByPier(
            "Pier does not support overlay networks: services attach to no network; "
            "publish ports instead"
        )
    mode = spec.get("Mode") or {}
    if "ReplicatedJob" in mode or "GlobalJob" in mode:
        raise NotImplementedByPier("Pier does not support job services")
    replicas = (mode.get("Replicated") or {}).get("Replicas")
    if replicas is not None and int(replicas) < 0:
        raise invalid("Replicas must be a non-negative number")
    placement = template.get("Placement") or {}
    try:
        parse_constraints(placement.get("Constraints") or [])
    except ValueError as exc:
        raise invalid(str(exc)) from None
    for pref in placement.get("Preferences") or []:
        if "Spread" not in pref:
            raise invalid("unsupported placement preference")
    check_update(spec.get("UpdateConfig"), "update")
    check_update(spec.get("RollbackConfig"), "rollback")
    check_ports(spec)


def check_update(config: Mapping[str, Any] | None, kind: str) -> None:
    """dockerd's conversion of Update/RollbackConfig (unknown action or order) and
    swarmkit's validateUpdate (which checks UpdateConfig alone), in their words."""
    if not config:
        return
    # One conversion serves both configs: its words say "update" for either.
    action = str(config.get("FailureAction") or "pause")
    if action not in ("pause", "continue", "rollback"):
        raise InvalidParameter(f"unrecognized update failure action {action}")
    order = str(config.get("Order") or "stop-first")
    if order not in ("stop-first", "start-first"):
        raise InvalidParameter(f"unrecognized update order {order}")
    if kind != "update":
        return
    if int(config.get("Delay") or 0) < 0:
        raise invalid("TaskSpec: update-delay cannot be negative")
    if int(config.get("Monitor") or 0) < 0:
        raise invalid("TaskSpec: update-monitor cannot be negative")
    if not 0 <= float(config.get("MaxFailureRatio") or 0) <= 1:
        raise invalid("TaskSpec: update-maxfailureratio cannot be less than 0 or bigger than 1")


def check_ports(spec: Mapping[str, Any]) -> None:
    seen: set[tuple[int, str]] = set()
    for port in (spec.get("EndpointSpec") or {}).get("Ports") or []:
        proto = str(port.get("Protocol") or "tcp")
        mode = str(port.get("PublishMode") or "ingress")
        if proto not in ("tcp", "udp", "sctp"):
            raise invalid(f"unknown protocol {proto}")
        if mode == "ingress" and proto != "tcp":
            raise NotImplementedByPier(
                f"Pier's ingress forwards TCP only: publish {proto} ports with mode=host"
            )
        if not port.get("TargetPort"):
            raise invalid("EndpointSpec: a target port must be given")
        published = int(port.get("PublishedPort") or 0)
        if published and (published, proto) in seen:
            raise invalid(f"EndpointSpec: duplicate published ports provided: {published}")
        seen.add((published, proto))


def is_global(spec: Mapping[str, Any]) -> bool:
    return "Global" in (spec.get("Mode") or {})


def replicas(spec: Mapping[str, Any]) -> int:
    mode = spec.get("Mode") or {}
    if "Global" in mode:
        return 0
    value = (mode.get("Replicated") or {}).get("Replicas")
    return 1 if value is None else int(value)


def normalise(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A spec as swarmkit stores it: a missing mode is one replica."""
    out = dict(spec)
    # Go decodes JSON field names case-insensitively, and docker-py relies on it: its
    # ServiceMode sends {"replicated": {"Replicas": n}} and {"global": {}}.
    mode = {_MODES.get(k.lower(), k): v for k, v in (out.get("Mode") or {}).items()}
    if "Replicated" in mode and isinstance(mode["Replicated"], dict):
        mode["Replicated"] = {
            ("Replicas" if k.lower() == "replicas" else k): v for k, v in mode["Replicated"].items()
        }
    if mode:
        out["Mode"] = mode
    if not mode or ("Replicated" in mode and (mode["Replicated"] or {}).get("Replicas") is None):
        out["Mode"] = {"Replicated": {"Replicas": 1}}
    out.setdefault("Labels", {})
    return out


def resolve_ports(
    spec: Mapping[str, Any], taken: Mapping[int, str], service_name: str
) -> list[dict[str, Any]]:
    """Endpoint.Ports: ingress ports without a published port get one from swarmkit's
    range; one already published by another service is refused in its words."""
    out = []
    used = set(taken)
    for port in (spec.get("EndpointSpec") or {}).get("Ports") or []:
        mode = str(port.get("PublishMode") or "ingress")
        published = int(port.get("PublishedPort") or 0)
        if mode == "ingress":
            if published and published in taken:
                raise invalid(
                    f"port '{published}' is already in use by service '{taken[published]}' "
                    "as an ingress port"
                )
            if not published:
                published = next(
                    (p for p in range(INGRESS_RANGE[0], INGRESS_RANGE[1] + 1) if p not in used),
                    0,
                )
                if not published:
                    raise invalid("no ports left in the dynamic port range")
            used.add(published)
        entry = {
            "Protocol": str(port.get("Protocol") or "tcp"),
            "TargetPort": int(port["TargetPort"]),
            "PublishedPort": published,
            "PublishMode": mode,
        }
        if port.get("Name"):
            entry = {"Name": port["Name"], **entry}
        out.append(entry)
    return out
