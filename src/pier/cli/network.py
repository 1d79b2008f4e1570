"""`pier network ...` (create, ls, inspect, rm, prune, connect, disconnect) and
`pier port`, with docker's flags, tables and messages."""

from __future__ import annotations

from pier.cli.common import inspect_objects, parse_filters, remove_objects
from pier.cli.flags import BOOL, FORMAT, FORMAT_F, LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.client.errors import APIError

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CREATE = Spec(
    min_args=1,
    max_args=1,
    flags=(
        Flag(name="attachable", help="Enable manual container attachment"),
        Flag(name="driver", short="d", kind=STRING, default="bridge",
             help="Driver to manage the Network"),
        Flag(name="gateway", kind=LIST, help="IPv4 or IPv6 Gateway for the master subnet"),
        Flag(name="internal", help="Restrict external access to the network"),
        Flag(name="ip-range", kind=LIST, help="Allocate container ip from a sub-range"),
        Flag(name="ipv6", kind=BOOL, help="Enable or disable IPv6 networking"),
        Flag(name="label", kind=LIST, help="Set metadata on a network"),
        Flag(name="opt", short="o", kind=LIST, help="Set driver specific options"),
        Flag(name="subnet", kind=LIST,
             help="Subnet in CIDR format that represents a network segment"),
    ),
)  # fmt: skip


def _pairs(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def create(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CREATE, argv)
    subnets, gateways, ranges = opts["subnet"], opts["gateway"], opts["ip-range"]
    if len(gateways) > len(subnets) or len(ranges) > len(subnets):
        raise StatusError(1, "no matching subnet for gateway or ip-range")
    config = []
    for i, subnet in enumerate(subnets):
        entry = {"Subnet": subnet}
        if i < len(gateways):
            entry["Gateway"] = gateways[i]
        if i < len(ranges):
            entry["IPRange"] = ranges[i]
        config.append(entry)
    body = {
        "Name": opts.args[0],
        "Driver": opts["driver"],
        "Internal": opts["internal"],
        "Attachable": opts["attachable"],
        "EnableIPv6": bool(opts["ipv6"]),
        "Options": _pairs(opts["opt"]),
        "Labels": _pairs(opts["label"]),
        "IPAM": {"Driver": "default", "Config": config},
    }
    try:
        created = ctx.client.post_json("/networks/create", body)
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    ctx.out(f"{created['Id']}\n")
    return 0


class NetworkContext:
    go_type = "*formatter.networkContext"

    def __init__(self, net: dict[str, Any], *, trunc: bool = True) -> None:
        self.n = net
        self.trunc = trunc

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k)() for k in HEADERS}

    def ID(self) -> str:
        ident = str(self.n.get("Id", ""))
        return ident[:12] if self.trunc else ident

    def Name(self) -> str:
        return str(self.n.get("Name", ""))

    def Driver(self) -> str:
        return str(self.n.get("Driver", ""))

    def Scope(self) -> str:
        return str(self.n.get("Scope", ""))

    def IPv6(self) -> str:
        return "true" if self.n.get("EnableIPv6") else "false"

    def Internal(self) -> str:
        return "true" if self.n.get("Internal") else "false"

    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in (self.n.get("Labels") or {}).items())

    def CreatedAt(self) -> str:
        return str(self.n.get("Created", ""))


HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED",
}
TABLE = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

LS = Spec(
    max_args=0,
    flags=(
        Flag(name="filter", short="f", kind=LIST, type_name="filter",
             help="Provide filter values (e.g. \"driver=bridge\")"),
        FORMAT,
        Flag(name="no-trunc", help="Do not truncate the output"),
        Flag(name="quiet", short="q", help="Only display network IDs"),
    ),
)  # fmt: skip


def ls(ctx: Context, argv: list[str]) -> int:
    from pier.cli import formatter

    opts = ctx.parse(LS, argv)
    filters = parse_filters(opts["filter"]) if opts["filter"] else {}
    try:
        nets = ctx.client.get_json("/networks", filters=filters or None)
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    nets.sort(key=lambda n: str(n.get("Name", "")))
    fmt = formatter.chosen(opts["format"] or "", TABLE, quiet=opts["quiet"])
    rows = [NetworkContext(n, trunc=not opts["no-trunc"]) for n in nets]
    ctx.out(formatter.render(fmt, rows, HEADERS, NetworkContext.go_type))
    return 0


INSPECT = Spec(min_args=1, flags=(FORMAT_F, Flag(name="verbose", short="v", help="Verbose output")))


def inspect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(INSPECT, argv)
    return inspect_objects(ctx, "networks", opts.args, opts["format"] or None)


RM = Spec(
    min_args=1,
    flags=(Flag(name="force", short="f", help="Do not error if the network does not exist"),),
)


def rm(ctx: Context, argv: list[str]) -> int:
    """As docker 28: each error printed as it happens, then "exit status 1"."""
    opts = ctx.parse(RM, argv)
    return remove_objects(ctx, "networks", opts.args, ignore_missing=bool(opts["force"]))


PRUNE = Spec(
    max_args=0,
    flags=(
        Flag(name="filter", kind=LIST, type_name="filter",
             help="Provide filter values (e.g. \"until=<timestamp>\")"),
        Flag(name="force", short="f", help="Do not prompt for confirmation"),
    ),
)  # fmt: skip


def prune(ctx: Context, argv: list[str]) -> int:
    import sys

    opts = ctx.parse(PRUNE, argv)
    if not opts["force"]:
        ctx.out("WARNING! This will remove all custom networks not used by at least one "
                "container.\nAre you sure you want to continue? [y/N] ")  # fmt: skip
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    filters = parse_filters(opts["filter"]) if opts["filter"] else {}
    report = ctx.client.post_json("/networks/prune", None, filters=filters or None)
    deleted = report.get("NetworksDeleted") or []
    if deleted:
        ctx.out("Deleted Networks:\n" + "".join(f"{n}\n" for n in deleted))
    return 0


CONNECT = Spec(
    min_args=2,
    max_args=2,
    flags=(
        Flag(name="alias", kind=LIST, help="Add network-scoped alias for the container"),
        Flag(name="driver-opt", kind=LIST, help="driver options for the network"),
        Flag(name="ip", kind=STRING, help="IPv4 address (e.g., \"172.30.100.104\")"),
        Flag(name="ip6", kind=STRING, help="IPv6 address (e.g., \"2001:db8::33\")"),
        Flag(name="link", kind=LIST, help="Add link to another container"),
    ),
)  # fmt: skip


def connect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CONNECT, argv)
    net, container = opts.args
    ipam = {k: v for k, v in (("IPv4Address", opts["ip"]), ("IPv6Address", opts["ip6"])) if v}
    body = {
        "Container": container,
        "EndpointConfig": {
            "IPAMConfig": ipam or None,
            "Aliases": opts["alias"] or None,
            "Links": opts["link"] or None,
            "DriverOpts": _pairs(opts["driver-opt"]) or None,
        },
    }
    try:
        ctx.client.post_json(f"/networks/{net}/connect", body)
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    return 0


DISCONNECT = Spec(
    min_args=2,
    max_args=2,
    flags=(Flag(name="force", short="f", help="Force the container to disconnect from a network"),),
)


def disconnect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(DISCONNECT, argv)
    net, container = opts.args
    try:
        ctx.client.post_json(
            f"/networks/{net}/disconnect", {"Container": container, "Force": opts["force"]}
        )
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    return 0


PORT = Spec(min_args=1, max_args=2)


def port(ctx: Context, argv: list[str]) -> int:
    """docker port CONTAINER [PRIVATE_PORT[/PROTO]]: the published host sides."""
    from pier.cli.common import container_path

    opts = ctx.parse(PORT, argv)
    name = opts.args[0]
    try:
        info = ctx.client.get_json(container_path(name, "json"))
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc.message}") from None
    ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
    if len(opts.args) == 2:
        wanted = opts.args[1] if "/" in opts.args[1] else opts.args[1] + "/tcp"
        bindings = ports.get(wanted)
        if not bindings:
            asked = opts.args[1]
            raise StatusError(1, f"Error: No public port '{asked}' published for {name}")
        ctx.out("".join(f"{_host(b)}\n" for b in bindings))
        return 0
    lines = []
    for key in sorted(ports, key=_port_key):
        for b in ports[key] or ():
            lines.append(f"{key} -> {_host(b)}\n")
    ctx.out("".join(lines))
    return 0


def _host(b: dict[str, str]) -> str:
    ip = b.get("HostIp") or "0.0.0.0"
    return f"[{ip}]:{b.get('HostPort')}" if ":" in ip else f"{ip}:{b.get('HostPort')}"


def _port_key(key: str) -> tuple[int, str]:
    number, _, proto = key.partition("/")
    return (int(number) if number.isdigit() else 0, proto)
