"""/services and /tasks on a manager: documents in the store, checked as swarmkit's
controlapi checks them. The orchestrator does the rest."""

from __future__ import annotations

import builtins
import copy
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pier import timefmt
from pier.errors import Conflict, InvalidParameter, NotFound, PierError
from pier.swarm import docs, ids, servicespec
from pier.swarm.nodes import OUT_OF_SEQUENCE
from pier.swarm.rollout import start_update
from pier.swarm.session import Session
from pier.swarm.store import Doc
from pier.swarm.taskspec import task_name

# What swarmkit fills in for `insertDefaults` (api/defaults/service.go).
_DEFAULTS: dict[str, Any] = {
    "TaskTemplate": {
        "ContainerSpec": {"DNSConfig": {}, "StopGracePeriod": 10 * docs.SECOND},
        "Resources": {"Limits": {}, "Reservations": {}},
        "RestartPolicy": {"Condition": "any", "Delay": 5 * docs.SECOND, "MaxAttempts": 0},
        "Placement": {},
    },
    "UpdateConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5 * docs.SECOND,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
    "RollbackConfig": {
        "Parallelism": 1,
        "FailureAction": "pause",
        "Monitor": 5 * docs.SECOND,
        "MaxFailureRatio": 0,
        "Order": "stop-first",
    },
    "EndpointSpec": {"Mode": "vip"},
}


def _with_defaults(spec: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(spec))
    for key, value in defaults.items():
        if isinstance(value, Mapping):
            out[key] = _with_defaults(out.get(key) or {}, value)
        elif out.get(key) in (None, ""):
            out[key] = value
    return out


def _task_spec_changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    def canon(spec: Mapping[str, Any]) -> str:
        keep = {"TaskTemplate": spec.get("TaskTemplate"), "Ports": _ports(spec)}
        return json.dumps(keep, sort_keys=True)

    return canon(old) != canon(new)


def _ports(spec: Mapping[str, Any]) -> Any:
    return (spec.get("EndpointSpec") or {}).get("Ports") or []


class Services:
    def __init__(self, session: Session, *, generate_name: Callable[[Callable[[str], bool]], str]):
        self._session = session
        self._store = session.store
        self._generate_name = generate_name

    async def _find(self, ref: str) -> Doc:
        services = await self._store.list("services")
        for s in services:
            if s.id == ref:
                return s
        for s in services:
            if s["Spec"]["Name"] == ref:
                return s
        prefixed = [s for s in services if s.id.startswith(ref)] if ref else []
        if len(prefixed) == 1:
            return prefixed[0]
        if len(prefixed) > 1:
            raise InvalidParameter(f"service {ref} is ambiguous ({len(prefixed)} matches found)")
        raise NotFound(f"service {ref} not found")

    async def _ingress_ports(self, exclude: str = "") -> dict[int, str]:
        taken = {}
        for s in await self._store.list("services"):
            if s.id == exclude:
                continue
            for p in s.get("Endpoint", {}).get("Ports") or []:
                if p.get("PublishMode") == "ingress":
                    taken[int(p["PublishedPort"])] = s["Spec"]["Name"]
        return taken

    async def create(self, spec: Mapping[str, Any]) -> str:
        spec = servicespec.normalise(spec)
        existing = {s["Spec"]["Name"] for s in await self._store.list("services")}
        if not spec.get("Name"):
            spec["Name"] = self._generate_name(lambda n: n in existing)
        servicespec.check(spec)
        if spec["Name"] in existing:
            raise Conflict(
                "rpc error: code = AlreadyExists desc = name conflicts with an existing "
                f"object: service {spec['Name']} already exists"
            )
        ports = servicespec.resolve_ports(spec, await self._ingress_ports(), spec["Name"])
        sid = ids.new_id()
        now = timefmt.now()
        body: dict[str, Any] = {
            "ID": sid,
            "CreatedAt": now,
            "UpdatedAt": now,
            "Spec": spec,
            "Endpoint": _endpoint(spec, ports),
            "_Gen": 1,
        }
        if not await self._store.create("services", sid, body):
            raise Conflict(f"service {sid} already exists")
        return sid

    async def list(
        self, filters: Mapping[str, Sequence[str]], *, status: bool
    ) -> builtins.list[dict[str, Any]]:
        services = await self._store.list("services")
        tasks = await self._store.list("tasks") if status else []
        alive = {d.id for d in await self._store.list("alive")} if status else set()
        out = []
        for s in services:
            if not _service_matches(s, filters):
                continue
            rendered = docs.render_service(s)
            if status:
                rendered["ServiceStatus"] = _status(s, tasks, alive)
            out.append(rendered)
        return out

    async def get(self, ref: str, *, insert_defaults: bool) -> dict[str, Any]:
        rendered = docs.render_service(await self._find(ref))
        if insert_defaults:
            rendered["Spec"] = _with_defaults(rendered["Spec"], _DEFAULTS)
            if rendered.get("PreviousSpec"):
                rendered["PreviousSpec"] = _with_defaults(rendered["PreviousSpec"], _DEFAULTS)
        return rendered

    async def update(
        self, ref: str, *, version: int, spec: Mapping[str, Any], rollback: bool
    ) -> builtins.list[str]:
        current = await self._find(ref)
        body = copy.deepcopy(dict(current.body))
        old = body["Spec"]
        if rollback:
            if not body.get("PreviousSpec"):
                raise InvalidParameter(
                    "rpc error: code = FailedPrecondition desc = service "
                    f"{current.id} does not have a previous spec"
                )
            new = body["PreviousSpec"]
        else:
            new = servicespec.normalise(spec)
            if new.get("Name") != old["Name"]:
                raise InvalidParameter(
                    "rpc error: code = Unimplemented desc = renaming services is not supported"
                )
            servicespec.check(new)
        if servicespec.is_global(new) != servicespec.is_global(old):
            raise InvalidParameter(
                "rpc error: code = Unimplemented desc = service mode change is not allowed"
            )
        ports = servicespec.resolve_ports(new, await self._ingress_ports(current.id), new["Name"])
        body["PreviousSpec"] = old
        body["Spec"] = new
        body["Endpoint"] = _endpoint(new, ports)
        body["UpdatedAt"] = timefmt.now()
        if rollback:
            start_update(body, rollback=True, message="manually requested rollback")
        elif _task_spec_changed(old, new):
            start_update(body, rollback=False, message="update in progress")
        if await self._store.replace("services", current.id, body, revision=version) is None:
            raise PierError(OUT_OF_SEQUENCE)
        return []

    async def remove(self, ref: str) -> None:
        current = await self._find(ref)
        await self._store.delete("services", current.id)

    # -- tasks -----------------------------------------------------------------------

    async def tasks(self, filters: Mapping[str, Sequence[str]]) -> builtins.list[dict[str, Any]]:
        services = {s.id: s for s in await self._store.list("services")}
        wanted_services = set()
        for ref in filters.get("service") or ():
            try:
                wanted_services.add((await self._find(ref)).id)
            except NotFound:
                wanted_services.add(ref)
        out = []
        for t in await self._store.list("tasks"):
            if _task_matches(t, filters, wanted_services, services):
                out.append(docs.render_task(t))
        return out

    async def task(self, ref: str) -> dict[str, Any]:
        tasks = await self._store.list("tasks")
        found = [t for t in tasks if t.id == ref] or [t for t in tasks if t.id.startswith(ref)]
        if len(found) != 1 or not ref:
            raise NotFound(f"task {ref} not found")
        return docs.render_task(found[0])


def _endpoint(spec: Mapping[str, Any], ports: list[dict[str, Any]]) -> dict[str, Any]:
    endpoint_spec = dict(spec.get("EndpointSpec") or {})
    endpoint_spec.setdefault("Mode", "vip")
    out: dict[str, Any] = {"Spec": endpoint_spec}
    if ports:
        out["Ports"] = ports
    return out


def _service_matches(s: Doc, filters: Mapping[str, Sequence[str]]) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "id" and not any(s.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(s["Spec"]["Name"].startswith(v) for v in values):
            return False
        if key == "mode":
            mode = "global" if servicespec.is_global(s["Spec"]) else "replicated"
            if mode not in values:
                return False
        if key == "label":
            labels = s["Spec"].get("Labels") or {}
            for v in values:
                k, eq, want = v.partition("=")
                if k not in labels or (eq and labels[k] != want):
                    return False
        if key not in ("id", "name", "mode", "label"):
            raise InvalidParameter(f"invalid filter '{key}'")
    return True


def _status(s: Doc, tasks: list[Doc], alive: set[str]) -> dict[str, int]:
    mine = [t for t in tasks if t["ServiceID"] == s.id]
    running = sum(
        1
        for t in mine
        if t["Status"]["State"] == "running"
        and t["DesiredState"] == "running"
        and t.get("NodeID") in alive
    )
    if servicespec.is_global(s["Spec"]):
        desired = sum(1 for t in mine if t["DesiredState"] == "running")
    else:
        desired = servicespec.replicas(s["Spec"])
    return {"RunningTasks": running, "DesiredTasks": desired, "CompletedTasks": 0}


def _task_matches(
    t: Doc,
    filters: Mapping[str, Sequence[str]],
    services: set[str],
    by_id: Mapping[str, Doc],
) -> bool:
    for key, values in filters.items():
        if not values:
            continue
        if key == "service" and t["ServiceID"] not in services:
            return False
        if key == "node" and t.get("NodeID") not in values:
            return False
        if key == "desired-state" and t["DesiredState"] not in values:
            return False
        if key == "id" and not any(t.id.startswith(v) for v in values):
            return False
        if key == "name" and not any(task_name(t.body).startswith(v) for v in values):
            return False
        if key == "label":
            labels = t.get("Labels") or {}
            for v in values:
                k, eq, want = v.partition("=")
                if k not in labels or (eq and labels[k] != want):
                    return False
        if key == "_up-to-date":
            service = by_id.get(t["ServiceID"])
            if service is None or t.get("_Gen") != service.get("_Gen"):
                return False
        if key not in (
            "service",
            "node",
            "desired-state",
            "id",
            "name",
            "label",
            "_up-to-date",
        ):
            raise InvalidParameter(f"invalid filter '{key}'")
    return True
