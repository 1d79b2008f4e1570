"""A task's container as the Engine API's create body (moby's executor/container:
the labels, the name `<service>.<slot>.<task>`, ContainerSpec -> Config/HostConfig).
Pure."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pier.swarm import docs


def container_name(task: Mapping[str, Any]) -> str:
    slot = task.get("Slot") or task.get("NodeID")
    return f"{task['_Service']}.{slot}.{task['ID']}"


def task_name(task: Mapping[str, Any]) -> str:
    slot = task.get("Slot") or task.get("NodeID")
    return f"{task['_Service']}.{slot}"


def labels(task: Mapping[str, Any]) -> dict[str, str]:
    spec = task["Spec"].get("ContainerSpec") or {}
    return {
        **(spec.get("Labels") or {}),
        "com.docker.swarm.node.id": str(task["NodeID"]),
        "com.docker.swarm.service.id": str(task["ServiceID"]),
        "com.docker.swarm.service.name": str(task["_Service"]),
        "com.docker.swarm.task": "",
        "com.docker.swarm.task.id": str(task["ID"]),
        "com.docker.swarm.task.name": f"{task_name(task)}.{task['ID']}",
    }


def grace_seconds(task: Mapping[str, Any]) -> int:
    grace = (task["Spec"].get("ContainerSpec") or {}).get("StopGracePeriod")
    return 10 if grace is None else max(0, int(grace) // docs.SECOND)


def create_body(task: Mapping[str, Any]) -> dict[str, Any]:
    spec: Mapping[str, Any] = task["Spec"].get("ContainerSpec") or {}
    resources: Mapping[str, Any] = task["Spec"].get("Resources") or {}
    limits = resources.get("Limits") or {}
    ports = task.get("_Ports") or []
    exposed: dict[str, Any] = {f"{p['TargetPort']}/{p.get('Protocol') or 'tcp'}": {} for p in ports}
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in ports:
        key = f"{p['TargetPort']}/{p.get('Protocol') or 'tcp'}"
        # host mode: the published port itself; ingress: an ephemeral port the node's
        # ingress proxies (its own and other nodes') forward connections to.
        host_port = str(p["PublishedPort"]) if p.get("PublishMode") == "host" else ""
        bindings.setdefault(key, []).append({"HostIp": "", "HostPort": host_port})
    host_config: dict[str, Any] = {
        "PortBindings": bindings,
        "RestartPolicy": {"Name": "no"},
        "Init": spec.get("Init"),
        "ReadonlyRootfs": bool(spec.get("ReadOnly")),
        "Mounts": list(spec.get("Mounts") or []),
        "CapAdd": list(spec.get("CapabilityAdd") or []) or None,
        "CapDrop": list(spec.get("CapabilityDrop") or []) or None,
        "ExtraHosts": [_host_entry(h) for h in spec.get("Hosts") or []] or None,
        "Sysctls": dict(spec.get("Sysctls") or {}) or None,
        "NanoCpus": int(limits.get("NanoCPUs") or 0),
        "Memory": int(limits.get("MemoryBytes") or 0),
        "PidsLimit": int(limits.get("Pids") or 0) or None,
        "GroupAdd": list(spec.get("Groups") or []) or None,
    }
    dns = spec.get("DNSConfig") or {}
    if dns.get("Nameservers"):
        host_config["Dns"] = list(dns["Nameservers"])
    if dns.get("Search"):
        host_config["DnsSearch"] = list(dns["Search"])
    if dns.get("Options"):
        host_config["DnsOptions"] = list(dns["Options"])
    body: dict[str, Any] = {
        "Image": spec["Image"],
        "Cmd": list(spec["Args"]) if spec.get("Args") else None,
        "Entrypoint": list(spec["Command"]) if spec.get("Command") else None,
        "Env": list(spec.get("Env") or []),
        "Labels": labels(task),
        "Hostname": str(spec.get("Hostname") or ""),
        "User": str(spec.get("User") or ""),
        "WorkingDir": str(spec.get("Dir") or ""),
        "Tty": bool(spec.get("TTY")),
        "OpenStdin": bool(spec.get("OpenStdin")),
        "StopSignal": str(spec.get("StopSignal") or ""),
        "ExposedPorts": exposed,
        "HostConfig": {k: v for k, v in host_config.items() if v is not None},
    }
    if spec.get("Healthcheck"):
        body["Healthcheck"] = spec["Healthcheck"]
    return {k: v for k, v in body.items() if v is not None}


def _host_entry(entry: str) -> str:
    """swarm's Hosts are "IP host..."; a container's ExtraHosts are "host:IP"."""
    parts = entry.split()
    if len(parts) >= 2:
        return f"{parts[1]}:{parts[0]}"
    return entry
