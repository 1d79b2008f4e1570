"""`run`/`create` networking flags (`--network` and its long syntax, `--ip`, `--ip6`,
`--link`, `--network-alias`, `--mac-address`, `--dns*`, `--publish-all`) and their place
in the create request, as the docker CLI's parseNetworkOpts builds it."""

from __future__ import annotations

from pier.cli.flags import LIST, STRING, Flag

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def check_link(val: str) -> str:
    """opts.ParseLink's checks: `name` or `name:alias`."""
    if not val:
        raise ValueError("empty string specified for links")
    if val.count(":") > 1:
        raise ValueError("bad format for links: " + val)
    return val


def check_ip(val: str) -> str:
    import ipaddress

    try:
        ipaddress.ip_address(val.strip())
    except ValueError:
        raise ValueError(f"IP address is not correctly formatted: {val}") from None
    return val


def _canonical_ip(val: str) -> str:
    """ValidateIPAddress's result: Go's net.IP.String() of the address."""
    import ipaddress

    addr = ipaddress.ip_address(val.strip())
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    return str(addr)


def check_dns_search(val: str) -> str:
    """opts.ValidateDNSSearch: `.` or a domain name (a trailing dot allowed)."""
    import re

    val = val.strip(" ")
    if val == ".":
        return val
    label = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])"
    match = re.fullmatch(rf"({label}(?:\.{label})*)\.?\s*", val)
    if not re.search("[a-zA-Z]", val) or match is None or len(match.group(1)) >= 255:
        raise ValueError(f"{val} is not a valid domain")
    return val


def check_sysctl(val: str) -> str:
    """opts.ValidateSysctl: the namespaced sysctls the docker CLI lets through."""
    key, sep, _ = val.partition("=")
    allowed = key in (
        "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
        "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
    ) or key.startswith(("net.", "fs.mqueue."))  # fmt: skip
    if not sep or not key or not allowed:
        raise ValueError(f"sysctl '{val}' is not allowed")
    return val


def valid_mac(val: str) -> bool:
    """Go's net.ParseMAC: 6, 8 or 20 octets as aa:bb.., aa-bb.. or aabb.ccdd.. groups."""
    import re

    val = val.strip()
    octet = "[0-9a-fA-F]{2}"
    for sep in (":", "-"):
        for n in (6, 8, 20):
            if re.fullmatch(rf"{octet}(?:{sep}{octet}){{{n - 1}}}", val):
                return True
    return any(re.fullmatch(rf"[0-9a-fA-F]{{4}}(?:\.[0-9a-fA-F]{{4}}){{{n - 1}}}", val)
               for n in (3, 4, 10))  # fmt: skip


NET_FLAGS: tuple[Flag, ...] = (
    Flag(name="dns-option", kind=LIST, help="Set DNS options"),
    Flag(name="dns-opt", kind=LIST, hidden=True),
    Flag(name="dns-search", kind=LIST, help="Set custom DNS search domains",
         validate=check_dns_search),
    Flag(name="ip", kind=STRING, help="IPv4 address (e.g., 172.30.100.104)"),
    Flag(name="ip6", kind=STRING, help="IPv6 address (e.g., 2001:db8::33)"),
    Flag(name="link", kind=LIST, help="Add link to another container", validate=check_link),
    Flag(name="link-local-ip", kind=LIST, help="Container IPv4/IPv6 link-local addresses"),
    Flag(name="mac-address", kind=STRING,
         help="Container MAC address (e.g., 92:d0:c6:0a:29:33)"),
    Flag(name="network", kind=LIST, type_name="network",
         help="Connect a container to a network", validate=lambda v: _attachment(v)),
    Flag(name="net", kind=LIST, hidden=True, validate=lambda v: _attachment(v)),
    Flag(name="network-alias", kind=LIST, help="Add network-scoped alias for the container"),
    Flag(name="net-alias", kind=LIST, hidden=True),
    Flag(name="publish-all", short="P", help="Publish all exposed ports to random ports"),
    Flag(name="sysctl", kind=LIST, type_name="map", help="Sysctl options (default map[])",
         validate=check_sysctl),
)  # fmt: skip


def _is_user_defined(mode: str) -> bool:
    return mode not in ("default", "bridge", "host", "none") and not mode.startswith("container:")


def _attachment(value: str) -> dict[str, Any]:
    """opts.NetworkOpt.Set: a name, or `name=n,alias=a,ip=...` (csv, keys lower-cased)."""
    import csv
    import re

    if not re.search(r"\w+=\w+(,\w+=\w+)*", value):
        return {"Target": value}
    try:
        fields = next(csv.reader([value]))
    except (csv.Error, StopIteration):
        raise ValueError(f"invalid network option: {value}") from None
    att: dict[str, Any] = {"Target": "", "Aliases": [], "LinkLocalIPs": [], "DriverOpts": {}}
    for field in fields:
        key, sep, val = field.lower().partition("=")
        if not sep or not key:
            raise ValueError(f"invalid field {field}")
        key, val = key.strip(), val.strip()
        if key == "name":
            att["Target"] = val
        elif key == "alias":
            att["Aliases"].append(val)
        elif key == "ip":
            att["IPv4Address"] = val
        elif key == "ip6":
            att["IPv6Address"] = val
        elif key == "mac-address":
            att["MacAddress"] = val
        elif key == "link-local-ip":
            att["LinkLocalIPs"].append(val)
        elif key == "driver-opt":
            k, eq, v = val.partition("=")
            if not eq or not k:
                raise ValueError("invalid key value pair format in driver options")
            att["DriverOpts"][k.strip()] = v.strip()
        elif key == "gw-priority":
            try:
                att["GwPriority"] = int(val)
            except ValueError:
                raise ValueError(f"invalid gw-priority ({val}): invalid syntax") from None
        else:
            raise ValueError("invalid field key " + key)
    if not att["Target"]:
        raise ValueError("network name/id is not specified")
    return att


def _apply_container_options(n: dict[str, Any], opts: Any, aliases: list[str]) -> None:
    """applyContainerOptions: the plain flags belong to the first network."""
    for mine, theirs, what in (
        (aliases, n.get("Aliases"), "--network-alias and per-network alias"),
        (opts["link"], n.get("Links"), "--link and per-network links"),
        (opts["ip"], n.get("IPv4Address"), "--ip and per-network IPv4 address"),
        (opts["ip6"], n.get("IPv6Address"), "--ip6 and per-network IPv6 address"),
        (opts["mac-address"], n.get("MacAddress"), "--mac-address and per-network MAC address"),
        (opts["link-local-ip"], n.get("LinkLocalIPs"),
         "--link-local-ip and per-network link-local IP addresses"),
    ):  # fmt: skip
        if mine and theirs:
            raise ValueError(f"conflicting options: cannot specify both {what}")
    if aliases:
        n["Aliases"] = list(aliases)
    # On a user-defined network a link is an endpoint's alias; on the default bridge it
    # is a legacy link, HostConfig.Links alone.
    if _is_user_defined(n["Target"]) and opts["link"]:
        n["Links"] = list(opts["link"])
    for flag, key in (("ip", "IPv4Address"), ("ip6", "IPv6Address"), ("mac-address", "MacAddress")):
        if opts[flag]:
            n[key] = opts[flag]
    if opts["link-local-ip"]:
        n["LinkLocalIPs"] = list(opts["link-local-ip"])


def _endpoint(n: dict[str, Any]) -> dict[str, Any]:
    """parseNetworkAttachmentOpt: the EndpointSettings of one attachment."""
    if not n["Target"].strip():
        raise ValueError("no name set for network")
    if not _is_user_defined(n["Target"]):
        if n.get("Aliases"):
            raise ValueError("network-scoped aliases are only supported for user-defined networks")
        if n.get("Links"):
            raise ValueError("links are only supported for user-defined networks")
    ep: dict[str, Any] = {}
    if n.get("GwPriority"):
        ep["GwPriority"] = n["GwPriority"]
    if n.get("Aliases"):
        ep["Aliases"] = list(n["Aliases"])
    if n.get("DriverOpts"):
        ep["DriverOpts"] = dict(n["DriverOpts"])
    if n.get("Links"):
        ep["Links"] = list(n["Links"])
    ipv4, ipv6, local = n.get("IPv4Address"), n.get("IPv6Address"), n.get("LinkLocalIPs")
    if ipv4 or ipv6 or local:
        ep["IPAMConfig"] = {"IPv4Address": ipv4 or "", "IPv6Address": ipv6 or "",
                            "LinkLocalIPs": local or None}  # fmt: skip
    if n.get("MacAddress"):
        if not valid_mac(n["MacAddress"]):
            raise ValueError(f"{n['MacAddress']} is not a valid mac address")
        ep["MacAddress"] = n["MacAddress"]
    return ep


def apply(opts: Any, config: dict[str, Any]) -> None:
    """Fill the networking parts of a create body; ValueError carries docker's words."""
    hc = config["HostConfig"]
    mac = opts["mac-address"]
    if mac and not valid_mac(mac):
        raise ValueError(f"{mac} is not a valid mac address")
    attachments = [_attachment(v) for v in (*opts["network"], *opts["net"])]
    aliases = [*opts["network-alias"], *opts["net-alias"]]
    endpoints: dict[str, Any] = {}
    if not attachments:
        n: dict[str, Any] = {"Target": "default"}
        _apply_container_options(n, opts, aliases)
        endpoints["default"] = _endpoint(n)
    user_defined = other = False
    for i, n in enumerate(attachments):
        if _is_user_defined(n["Target"]):
            user_defined = True
        else:
            other = True
        if i == 0:
            _apply_container_options(n, opts, aliases)
        ep = _endpoint(n)
        if n["Target"] in endpoints:
            raise ValueError(f'network "{n["Target"]}" is specified multiple times')
        # One network without options: the daemon makes the endpoint (the CLI sends none).
        if i == 0 and len(attachments) == 1 and not ep:
            continue
        endpoints[n["Target"]] = ep
    if user_defined and other:
        raise ValueError("conflicting options: cannot attach both user-defined and "
                         "non-user-defined network-modes")  # fmt: skip
    mode = attachments[0]["Target"] if attachments else "default"
    hc["NetworkMode"] = mode
    hc["Links"] = list(opts["link"]) or None
    hc["Dns"] = [_canonical_ip(d) for d in opts["dns"]]
    hc["DnsSearch"] = list(opts["dns-search"])
    hc["DnsOptions"] = [*opts["dns-option"], *opts["dns-opt"]]
    hc["PublishAllPorts"] = bool(opts["publish-all"])
    sysctls: dict[str, str] = {}
    for item in opts["sysctl"]:
        key, _, value = item.partition("=")
        sysctls[key] = value
    if sysctls:
        hc["Sysctls"] = sysctls
    config["NetworkingConfig"] = {"EndpointsConfig": endpoints}
    main = endpoints.get(mode)
    if main and main.get("MacAddress"):
        # For daemons before API 1.44, which read the container's.
        config["MacAddress"] = main["MacAddress"]


def localhost_dns_warnings(body: dict[str, Any]) -> list[str]:
    """The docker CLI's localhostDNSWarning, added to the daemon's warnings at create."""
    import ipaddress

    for server in (body.get("HostConfig") or {}).get("Dns") or ():
        try:
            addr = ipaddress.ip_address(server)
        except ValueError:
            continue
        if addr.is_loopback:
            return [f"Localhost DNS ({addr}) may fail in containers."]
    return []
