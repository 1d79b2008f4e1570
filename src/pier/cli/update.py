"""`update` and `top`: steering and looking into running containers."""

from __future__ import annotations

from pier.cli.common import container_path, for_each
from pier.cli.flags import FLOAT, INT, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _bytes(text: str) -> int:
    from pier.cli.runopts import ram_in_bytes

    return ram_in_bytes(text)


def _swap(text: str) -> int:
    """docker's MemSwapBytes: -1 (unlimited) or a size."""
    return -1 if text.strip() == "-1" else _bytes(text)


UPDATE = Spec(
    min_args=1,
    flags=(
        Flag(name="blkio-weight", kind=INT, type_name="uint16",
             help="Block IO (relative weight), between 10 and 1000, or 0 to disable "
                  "(default 0)"),
        Flag(name="cpu-period", kind=INT,
             help="Limit CPU CFS (Completely Fair Scheduler) period"),
        Flag(name="cpu-quota", kind=INT, help="Limit CPU CFS (Completely Fair Scheduler) quota"),
        Flag(name="cpu-rt-period", kind=INT,
             help="Limit the CPU real-time period in microseconds"),
        Flag(name="cpu-rt-runtime", kind=INT,
             help="Limit the CPU real-time runtime in microseconds"),
        Flag(name="cpu-shares", short="c", kind=INT, help="CPU shares (relative weight)"),
        Flag(name="cpus", kind=FLOAT, type_name="decimal", help="Number of CPUs"),
        Flag(name="cpuset-cpus", kind=STRING, help="CPUs in which to allow execution (0-3, 0,1)"),
        Flag(name="cpuset-mems", kind=STRING, help="MEMs in which to allow execution (0-3, 0,1)"),
        Flag(name="kernel-memory", kind=STRING, type_name="bytes", hidden=True,
             validate=_bytes),
        Flag(name="memory", short="m", kind=STRING, type_name="bytes", help="Memory limit",
             validate=_bytes),
        Flag(name="memory-reservation", kind=STRING, type_name="bytes",
             help="Memory soft limit", validate=_bytes),
        Flag(name="memory-swap", kind=STRING, type_name="bytes",
             help="Swap limit equal to memory plus swap: -1 to enable unlimited swap",
             validate=_swap),
        Flag(name="pids-limit", kind=INT,
             help="Tune container pids limit (set -1 for unlimited)"),
        Flag(name="restart", kind=STRING, help="Restart policy to apply when a container exits"),
    ),
)  # fmt: skip


def update(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(UPDATE, argv)
    if not opts.given:
        raise StatusError(1, "you must provide one or more flags when using this command")
    body: dict[str, Any] = {
        "BlkioWeight": opts["blkio-weight"] or 0,
        "CpusetCpus": opts["cpuset-cpus"] or "",
        "CpusetMems": opts["cpuset-mems"] or "",
        "CpuShares": opts["cpu-shares"] or 0,
        "Memory": _bytes(opts["memory"]) if opts["memory"] else 0,
        "MemoryReservation": (
            _bytes(opts["memory-reservation"]) if opts["memory-reservation"] else 0
        ),
        "MemorySwap": _swap(opts["memory-swap"]) if opts["memory-swap"] else 0,
        "CpuPeriod": opts["cpu-period"] or 0,
        "CpuQuota": opts["cpu-quota"] or 0,
        "CpuRealtimePeriod": opts["cpu-rt-period"] or 0,
        "CpuRealtimeRuntime": opts["cpu-rt-runtime"] or 0,
        "NanoCpus": round(opts["cpus"] * 1e9) if opts["cpus"] else 0,
        "RestartPolicy": {"Name": "", "MaximumRetryCount": 0},
    }
    if opts["pids-limit"]:
        body["PidsLimit"] = opts["pids-limit"]
    if opts["restart"]:
        name, _, count = opts["restart"].partition(":")
        if count and not count.isdigit():
            raise StatusError(1, f"invalid restart policy format: {opts['restart']}")
        body["RestartPolicy"] = {"Name": name, "MaximumRetryCount": int(count or 0)}
    warnings: list[str] = []

    def act(name: str) -> str:
        result = ctx.client.post_json(container_path(name, "update"), body) or {}
        warnings.extend(result.get("Warnings") or ())
        return name

    try:
        return for_each(ctx, opts.args, act)
    finally:
        if warnings:
            ctx.out("\n".join(warnings) + "\n")


TOP = Spec(min_args=1, interspersed=False)


def top(ctx: Context, argv: list[str]) -> int:
    """`top CONTAINER [ps OPTIONS]`: the words after the container are ps's."""
    from pier.cli import output

    opts = ctx.parse(TOP, argv)
    name, ps_args = opts.args[0], opts.args[1:]
    params = {"ps_args": " ".join(ps_args)} if ps_args else {}
    result = ctx.client.get_json(container_path(name, "top"), **params)
    rows = ["\t".join(result.get("Titles") or [])]
    rows += ["\t".join(p) for p in result.get("Processes") or []]
    ctx.out(output.tabwrite("\n".join(rows) + "\n", minwidth=20))
    return 0
