"""The /etc/hostname, /etc/hosts and /etc/resolv.conf that Docker bind-mounts into a
container, written in the container's directory."""

from __future__ import annotations

import re
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


def hosts_file(
    *, host_network: bool, extra_hosts: tuple[str, ...], own: tuple[str, str] | None
) -> str:
    """`own` is (ip, "hostname aliases") when the container has an address."""
    if host_network:
        try:
            text = Path("/etc/hosts").read_text()
        except OSError:
            text = _DEFAULT_HOSTS
    else:
        text = _DEFAULT_HOSTS
    for entry in extra_hosts:
        name, _, ip = entry.partition(":")
        text += f"{ip}\t{name}\n"
    if own is not None:
        text += f"{own[0]}\t{own[1]}\n"
    return text


def resolv_conf(
    *,
    host_network: bool,
    dns: tuple[str, ...],
    search: tuple[str, ...],
    options: tuple[str, ...],
    host_file: Path = Path("/etc/resolv.conf"),
) -> str:
    try:
        host = host_file.read_text()
    except OSError:
        host = ""
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
