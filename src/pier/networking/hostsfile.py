"""A running container's /etc files as libnetwork keeps them up to date: /etc/hosts
with one line per address of each of its endpoints ("ip<TAB>names"), added when it
joins a network and taken out when it leaves (moby's etchosts.Add and Delete), and
resolv.conf pointed at the embedded DNS when it joins its first user network.

The files are bind-mounted into the container, so they are rewritten in place: a
rename would leave the container with the old ones. Blocking; called from a worker
thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path


def names_for(hostname: str, domainname: str) -> str:
    """moby's makeHostsRecs: the FQDN, then the bare host name when they differ."""
    names = f"{hostname}.{domainname}" if domainname else hostname
    short, dot, _ = names.partition(".")
    return f"{names} {short}" if dot else names


def add(path: Path, records: Sequence[tuple[str, str]]) -> None:
    if not records:
        return
    with contextlib.suppress(FileNotFoundError), open(path, "a") as fh:
        fh.write("".join(f"{ip}\t{names}\n" for ip, names in records))


def replace(path: Path, records: Sequence[tuple[str, str]]) -> None:
    """The lines with these records' names get these records' addresses instead, in
    the place of the first of them (moby's etchosts.Update)."""
    pending = {n: [r for r in records if r[1] == n] for _, n in records}
    try:
        lines = path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return
    out: list[str] = []
    for line in lines:
        names = line.rstrip("\n").partition("\t")[2]
        if names not in pending:
            out.append(line)
            continue
        out += [f"{ip}\t{n}\n" for ip, n in pending.pop(names, []) or []]
        pending[names] = []  # later lines of these names are dropped
    with contextlib.suppress(FileNotFoundError), open(path, "r+") as fh:
        fh.write("".join(out))
        fh.truncate()


def use_embedded_dns(path: Path, address: str) -> None:
    """A running container's resolv.conf once it joins its first network with the
    embedded DNS (moby's rebuildDNS): its nameservers replaced by `address` (which
    forwards to the upstreams), search kept, ndots:0 unless the options set ndots."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return
    kept = [ln for ln in lines if not ln.strip().startswith(("nameserver", "options"))]
    options = [w for ln in lines if ln.strip().startswith("options") for w in ln.split()[1:]]
    if not any(w.startswith("ndots:") for w in options):
        options.append("ndots:0")
    text = "\n".join([f"nameserver {address}", *kept, "options " + " ".join(options)]) + "\n"
    with open(path, "r+") as fh:
        fh.write(text)
        fh.truncate()


def remove(path: Path, records: Sequence[tuple[str, str]]) -> None:
    if not records:
        return
    drop = {f"{ip}\t{names}" for ip, names in records}
    try:
        lines = path.read_text().splitlines(keepends=True)
    except FileNotFoundError:
        return
    kept = [ln for ln in lines if ln.rstrip("\n") not in drop]
    if len(kept) != len(lines):
        with open(path, "r+") as fh:
            fh.write("".join(kept))
            fh.truncate()
