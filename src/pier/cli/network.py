"""`pier network ...` (create, ls, inspect, rm, prune, connect, disconnect) and
`pier port`, with docker's flags, tables and messages."""

from __future__ import annotations

from pier.cli.common import inspect_objects, parse_filters, remove_objects
from pier.cli.flags import BOOL, FORMAT, FORMAT_F, INT, LIST, STRING, Flag, Spec
from pier.cli.main import Context, StatusError
from pier.cli.netopts import check_link
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
        Flag(name="aux-address", kind=LIST, type_name="map",
             help="Auxiliary IPv4 or IPv6 addresses used by Network driver (default map[])"),
        Flag(name="config-from", kind=STRING,
             help="The network from which to copy the configuration"),
        Flag(name="config-only", help="Create a configuration only network"),
        Flag(name="driver", short="d", kind=STRING, default="bridge",
             help="Driver to manage the Network"),
        Flag(name="gateway", kind=LIST, type_name="strings",
             help="IPv4 or IPv6 Gateway for the master subnet"),
        Flag(name="ingress", help="Create swarm routing-mesh network"),
        Flag(name="internal", help="Restrict external access to the network"),
        Flag(name="ip-range", kind=LIST, type_name="strings",
             help="Allocate container ip from a sub-range"),
        Flag(name="ipam-driver", kind=STRING, default="default",
             help="IP Address Management Driver"),
        Flag(name="ipam-opt", kind=LIST, type_name="map",
             help="Set IPAM driver specific options (default map[])"),
        Flag(name="ipv4", kind=BOOL, default=True,
             help="Enable or disable IPv4 address assignment"),
        Flag(name="ipv6", kind=BOOL, help="Enable or disable IPv6 address assignment"),
        Flag(name="label", kind=LIST, help="Set metadata on a network"),
        Flag(name="opt", short="o", kind=LIST, type_name="map",
             help="Set driver specific options (default map[])"),
        Flag(name="scope", kind=STRING, help="Control the network's scope"),
        Flag(name="subnet", kind=LIST, type_name="strings",
             help="Subnet in CIDR format that represents a network segment"),
    ),
)  # fmt: skip


def _pairs(items: list[str]) -> dict[str, str]:
    return {k: v for k, _, v in (i.partition("=") for i in items)}


def _strings(items: list[str]) -> list[str]:
    """pflag's StringSlice: each value is a CSV line of several."""
    import csv

    return [v for item in items for v in next(csv.reader([item]), [])]


def create(ctx: Context, argv: list[str]) -> int:
    from pier.cli.netipam import ipam_config

    opts = ctx.parse(CREATE, argv)
    try:
        config = ipam_config(_strings(opts["subnet"]), _strings(opts["ip-range"]),
                             _strings(opts["gateway"]), _pairs(opts["aux-address"]))  # fmt: skip
    except ValueError as exc:
        raise StatusError(1, str(exc)) from None
    body: dict[str, Any] = {
        "Name": opts.args[0],
        "Driver": opts["driver"],
        "Scope": opts["scope"] or "",
        "Internal": opts["internal"],
        "Attachable": opts["attachable"],
        "Ingress": opts["ingress"],
        "ConfigOnly": opts["config-only"],
        "Options": _pairs(opts["opt"]),
        "Labels": _pairs(opts["label"]),
        "IPAM": {"Driver": opts["ipam-driver"], "Config": config,
                 "Options": _pairs(opts["ipam-opt"])},
    }  # fmt: skip
    # As the docker CLI: sent only when given, so the daemon's default applies otherwise.
    if "ipv4" in opts.given:
        body["EnableIPv4"] = bool(opts["ipv4"])
    if "ipv6" in opts.given:
        body["EnableIPv6"] = bool(opts["ipv6"])
    if opts["config-from"]:
        body["ConfigFrom"] = {"Network": opts["config-from"]}
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
        Flag(name="alias", kind=LIST, type_name="strings",
             help="Add network-scoped alias for the container"),
        Flag(name="driver-opt", kind=LIST, type_name="strings",
             help="driver options for the network"),
        Flag(name="gw-priority", kind=INT,
             help="Highest gw-priority provides the default gateway. Accepts positive and "
                  "negative values."),
        Flag(name="ip", kind=STRING, help="IPv4 address (e.g., \"172.30.100.104\")"),
        Flag(name="ip6", kind=STRING, help="IPv6 address (e.g., \"2001:db8::33\")"),
        Flag(name="link", kind=LIST, help="Add link to another container", validate=check_link),
        Flag(name="link-local-ip", kind=LIST, type_name="strings",
             help="Add a link-local address for the container"),
    ),
)  # fmt: skip


def connect(ctx: Context, argv: list[str]) -> int:
    opts = ctx.parse(CONNECT, argv)
    net, container = opts.args
    driver_opts = {}
    for item in _strings(opts["driver-opt"]):
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise StatusError(1, "invalid key/value pair format in driver options")
        driver_opts[key.strip()] = value.strip()
    body = {
        "Container": container,
        "EndpointConfig": {
            "IPAMConfig": {"IPv4Address": opts["ip"] or "", "IPv6Address": opts["ip6"] or "",
                           "LinkLocalIPs": _strings(opts["link-local-ip"]) or None},
            "Aliases": _strings(opts["alias"]) or None,
            "Links": opts["link"] or None,
            "DriverOpts": driver_opts,
            "GwPriority": opts["gw-priority"] or 0,
        },
    }  # fmt: skip
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
