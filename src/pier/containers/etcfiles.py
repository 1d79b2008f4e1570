"""The /etc/hostname, /etc/hosts and /etc/resolv.conf that Docker bind-mounts into a
container, written in the container's directory."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

_DEFAULT_HOSTS = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
# Docker's fallback when the host only has loopback resolvers (unusable in a netns).
_FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")
_LOOPBACK = re.compile(r"^\s*nameserver\s+(127\.\S*|::1)\s*$")
EMBEDDED_DNS = "127.0.0.11"


@dataclass(frozen=True, slots=True, kw_only=True)
class EtcInputs:
    """What networking gives the /etc files: the container's own address(es) with
    names, whether it uses the embedded DNS, and what `host-gateway` stands for."""

    own: tuple[tuple[str, str], ...] = ()
    links: tuple[tuple[str, str], ...] = ()  # --link: (address, "alias id name")
    embedded_dns: bool = False
    host_gateway: str = ""


def hosts_file(
    *, host_network: bool, extra_hosts: tuple[str, ...], own: Sequence[tuple[str, str]]
) -> str:
    """`own` is (ip, "hostname aliases") per address of each of the container's
    endpoints (libnetwork adds every endpoint's addresses)."""
    if host_network:
        try:
            text = Path("/etc/hosts").read_text()
        except OSError:
            text = _DEFAULT_HOSTS
    else:
        text = _DEFAULT_HOSTS
    for entry in extra_hosts:
        # "name:ip", the address possibly IPv6 (with colons): split at the first colon
        name, _, ip = entry.partition(":")
        text += f"{ip}\t{name}\n"
    for ip, names in own:
        text += f"{ip}\t{names}\n"
    return text


def resolv_conf(
    *,
    host_network: bool,
    dns: tuple[str, ...],
    search: tuple[str, ...],
    options: tuple[str, ...],
    host_file: Path = Path("/etc/resolv.conf"),
    embedded: bool = False,
) -> str:
    try:
        host = host_file.read_text()
    except OSError:
        host = ""
    if embedded:
        # User-defined networks: the embedded server (it forwards to --dns, else to the
        # host's resolvers); search and options as asked, else the host's.
        host_search = [ln.split()[1:] for ln in host.splitlines() if ln.startswith("search")]
        host_opts = [ln.split()[1:] for ln in host.splitlines() if ln.startswith("options")]
        out = [f"nameserver {EMBEDDED_DNS}"]
        words = list(search) or (host_search[-1] if host_search else [])
        if words:
            out.append("search " + " ".join(words))
        opts = list(options) or (host_opts[-1] if host_opts else [])
        out.append("options " + " ".join([*opts, "ndots:0"] if not options else opts))
        return "\n".join(out) + "\n"
    if not (dns or search or options):
        if host_network:
            return host
        lines = [ln for ln in host.splitlines() if not _LOOPBACK.match(ln)]
        if not any(ln.strip().startswith("nameserver") for ln in lines):
            lines += [f"nameserver {ip}" for ip in _FALLBACK_DNS]
        return "\n".join(lines) + "\n"
    keep = [
        ln
        for ln in host.splitlines()
        if not (ln.strip().startswith(("nameserver", "search", "domain", "options")))
    ]
    if not dns:
        dns = (
            tuple(
                ln.split()[1]
                for ln in host.splitlines()
                if ln.strip().startswith("nameserver") and not _LOOPBACK.match(ln)
            )
            or _FALLBACK_DNS
        )
    out = keep + [f"nameserver {ip}" for ip in dns]
    if search:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"
