"""SIGKILL pierd at a spread of moments of every mutating operation, restart it on the
same roots, and check the invariants (pier_testing.crash): it answers within 2 s,
running containers have processes and every monitor has a container, AutoRemove
containers are gone, every container can be started, stopped and removed, nothing a
client saw succeed is lost, and once everything is removed nothing is left.

An operation is one entry of OPERATIONS. `make test` kills once per operation
(PIER_CRASH_POINTS=1); `make crash` at 16 moments of each.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from pier.client.errors import ClientError
from pier_testing.crash import Ctx, Facts, Operation, crash_at, run_uninterrupted

SLEEPER = ["busybox", "sleep", "1000"]


def _running(ctx: Ctx, name: str) -> list[str]:
    info = ctx.inspect(name)
    if info is None:
        return [f"{name} is gone"]
    if not info["State"]["Running"] or info["State"]["Paused"]:
        return [f"{name} is {info['State']['Status']}, not running"]
    return []


def _stopped(ctx: Ctx, name: str) -> list[str]:
    info = ctx.inspect(name)
    if info is None:
        return [f"{name} is gone"]
    return [f"{name} is still running"] if info["State"]["Running"] else []


def _exists(ctx: Ctx, name: str) -> list[str]:
    return [] if ctx.inspect(name) is not None else [f"{name} is gone"]


def _absent(ctx: Ctx, name: str) -> list[str]:
    return [] if ctx.inspect(name) is None else [f"{name} still exists"]


def _created(ctx: Ctx) -> Facts:
    name = ctx.unique("crash")
    ctx.docker("create", "--name", name, *SLEEPER)
    return {"name": name}


def _running_one(ctx: Ctx) -> Facts:
    name = ctx.unique("crash")
    ctx.docker("run", "-d", "--name", name, *SLEEPER)
    return {"name": name}


def _paused_one(ctx: Ctx) -> Facts:
    facts = _running_one(ctx)
    ctx.docker("pause", facts["name"])
    return facts


def _named(ctx: Ctx) -> Facts:
    return {"name": ctx.unique("crash")}


def _layer(ctx: Ctx) -> Facts:
    return {"tar": str(ctx.layer_tar()), "ref": ctx.unique("crash-import") + ":v1"}


def _imported(ctx: Ctx) -> Facts:
    facts = _layer(ctx)
    ctx.docker("import", facts["tar"], facts["ref"])
    return facts


def _paused(ctx: Ctx, facts: Facts) -> list[str]:
    info = ctx.inspect(facts["name"])
    return [] if info is not None and info["State"]["Paused"] else [f"{facts['name']} not paused"]


def _renamed(ctx: Ctx, facts: Facts) -> list[str]:
    return _absent(ctx, facts["name"]) + _exists(ctx, facts["name"] + "-renamed")


def _image_present(ref_key: str) -> Callable[[Ctx, Facts], list[str]]:
    def check(ctx: Ctx, facts: Facts) -> list[str]:
        return [] if ctx.image(facts[ref_key]) is not None else [f"{facts[ref_key]} is gone"]

    return check


def _image_absent(ctx: Ctx, facts: Facts) -> list[str]:
    return [] if ctx.image(facts["ref"]) is None else [f"{facts['ref']} still exists"]


def _exec_ran(ctx: Ctx, facts: Facts) -> list[str]:
    out = ctx.docker("exec", facts["name"], "cat", "/marker", check=False)
    return [] if out == "ran" else [f"the exec's file is not there ({out!r})"]


def _network_named(ctx: Ctx) -> Facts:
    return {"net": ctx.unique("crash-net"), "name": ctx.unique("crash")}


def _network_made(ctx: Ctx) -> Facts:
    facts = _network_named(ctx)
    ctx.docker("network", "create", facts["net"])
    return facts


def _network_and_running(ctx: Ctx) -> Facts:
    facts = _network_made(ctx)
    ctx.docker("run", "-d", "--name", facts["name"], *SLEEPER)
    return facts


def _connected(ctx: Ctx) -> Facts:
    facts = _network_and_running(ctx)
    ctx.docker("network", "connect", facts["net"], facts["name"])
    return facts


def _network_exists(ctx: Ctx, facts: Facts) -> list[str]:
    try:
        ctx.daemon.client.get_json(f"/networks/{facts['net']}")
    except ClientError:
        return [f"network {facts['net']} is gone"]
    return []


def _network_absent(ctx: Ctx, facts: Facts) -> list[str]:
    return [] if _network_exists(ctx, facts) else [f"network {facts['net']} still exists"]


def _on_network(present: bool) -> Callable[[Ctx, Facts], list[str]]:
    def check(ctx: Ctx, facts: Facts) -> list[str]:
        info = ctx.inspect(facts["name"])
        if info is None:
            return [f"{facts['name']} is gone"]
        endpoint = info["NetworkSettings"]["Networks"].get(facts["net"])
        if present and not (endpoint and endpoint.get("IPAddress")):
            return [f"{facts['name']} has no address on {facts['net']}"]
        if not present and endpoint is not None:
            return [f"{facts['name']} is still on {facts['net']}"]
        return _running(ctx, facts["name"])

    return check


def _tagged(ctx: Ctx) -> Facts:
    return {"ref": ctx.unique("crash-tag") + ":t"}


OPERATIONS = [
    Operation(
        name="create",
        setup=_named,
        argv=lambda f: ["create", "--name", f["name"], *SLEEPER],
        acked=lambda ctx, f: _exists(ctx, f["name"]),
    ),
    Operation(
        name="start",
        setup=_created,
        argv=lambda f: ["start", f["name"]],
        acked=lambda ctx, f: _running(ctx, f["name"]),
    ),
    Operation(
        name="run",
        setup=_named,
        argv=lambda f: ["run", "-d", "--name", f["name"], *SLEEPER],
        acked=lambda ctx, f: _running(ctx, f["name"]),
    ),
    Operation(
        name="run --rm",
        setup=_named,
        argv=lambda f: ["run", "--rm", "--name", f["name"], "busybox", "true"],
        acked=lambda ctx, f: _absent(ctx, f["name"]),
    ),
    Operation(
        name="stop",
        setup=_running_one,
        argv=lambda f: ["stop", "-t", "1", f["name"]],
        acked=lambda ctx, f: _stopped(ctx, f["name"]),
    ),
    Operation(
        name="kill",
        setup=_running_one,
        argv=lambda f: ["kill", f["name"]],
        acked=lambda ctx, f: _stopped(ctx, f["name"]),
    ),
    Operation(
        name="restart",
        setup=_running_one,
        argv=lambda f: ["restart", "-t", "0", f["name"]],
        acked=lambda ctx, f: _running(ctx, f["name"]),
    ),
    Operation(
        name="rm -f",
        setup=_running_one,
        argv=lambda f: ["rm", "-f", f["name"]],
        acked=lambda ctx, f: _absent(ctx, f["name"]),
    ),
    Operation(
        name="rename",
        setup=_created,
        argv=lambda f: ["rename", f["name"], f["name"] + "-renamed"],
        acked=_renamed,
    ),
    Operation(
        name="pause",
        setup=_running_one,
        argv=lambda f: ["pause", f["name"]],
        acked=_paused,
    ),
    Operation(
        name="unpause",
        setup=_paused_one,
        argv=lambda f: ["unpause", f["name"]],
        acked=lambda ctx, f: _running(ctx, f["name"]),
    ),
    Operation(
        name="exec",
        setup=_running_one,
        argv=lambda f: ["exec", f["name"], "sh", "-c", "echo ran > /marker"],
        acked=_exec_ran,
    ),
    Operation(
        name="import",
        setup=_layer,
        argv=lambda f: ["import", f["tar"], f["ref"]],
        acked=_image_present("ref"),
    ),
    Operation(
        name="tag",
        setup=_tagged,
        argv=lambda f: ["tag", "busybox:latest", f["ref"]],
        acked=_image_present("ref"),
    ),
    Operation(
        name="rmi",
        setup=_imported,
        argv=lambda f: ["rmi", f["ref"]],
        acked=_image_absent,
    ),
    Operation(
        name="network create",
        setup=_network_named,
        argv=lambda f: ["network", "create", f["net"]],
        acked=_network_exists,
    ),
    Operation(
        name="network rm",
        setup=_network_made,
        argv=lambda f: ["network", "rm", f["net"]],
        acked=_network_absent,
    ),
    Operation(
        name="run on a network with a port",
        setup=_network_made,
        argv=lambda f: [
            "run",
            "-d",
            "--name",
            f["name"],
            "--network",
            f["net"],
            "-p",
            "80",
            *SLEEPER,
        ],
        acked=_on_network(True),
    ),
    Operation(
        name="network connect",
        setup=_network_and_running,
        argv=lambda f: ["network", "connect", f["net"], f["name"]],
        acked=_on_network(True),
    ),
    Operation(
        name="network disconnect",
        setup=_connected,
        argv=lambda f: ["network", "disconnect", f["net"], f["name"]],
        acked=_on_network(False),
    ),
]

# Moments are spread over the operation's uninterrupted duration and a little past it
# (what happens right after the answer: auto-removal, exit recording).
_POINTS = int(os.environ.get("PIER_CRASH_POINTS", "1"))


def _fraction(i: int) -> float:
    return 1.2 * (i + 0.5) / _POINTS


_durations: dict[str, float] = {}


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
@pytest.mark.parametrize("point", range(_POINTS), ids=lambda i: f"at{_fraction(i):.2f}")
def test_crash_point(
    crash_ctx: Ctx, op: Operation, point: int, record: Callable[..., None]
) -> None:
    ctx = crash_ctx
    _fresh(ctx)
    if op.name not in _durations:
        _durations[op.name] = run_uninterrupted(ctx, op)
        _fresh(ctx)
    outcome = crash_at(ctx, op, _durations[op.name] * _fraction(point))
    record(acked=outcome.acked, violations=len(outcome.violations))
    assert not outcome.violations, outcome


def _fresh(ctx: Ctx) -> None:
    """Nothing but busybox:latest, as each point starts (and a daemon: a point that
    failed may have left none)."""
    if ctx.daemon.proc is None or ctx.daemon.proc.poll() is not None:
        ctx.daemon.proc = None
        ctx.daemon.start()
    for c in ctx.daemon.client.get_json("/containers/json", all=1):
        ctx.daemon.client.delete(f"/containers/{c['Id']}", force=1)
    for net in ctx.daemon.client.get_json("/networks"):
        if net["Name"] not in ("bridge", "host", "none"):
            ctx.daemon.client.delete(f"/networks/{net['Id']}")
    if ctx.image("busybox:latest") is None:
        ctx.docker("import", str(ctx.busybox_tar), "busybox:latest")
