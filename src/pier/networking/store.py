"""What the networking service records in pier.db: networks, the attachments of
containers to them (with the endpoint while the container runs) and each running
container's sandbox (its namespace and published ports). Written through at once
(these change at create, start and stop, not per request), so addresses and host
ports survive a crash without being handed out twice."""

from __future__ import annotations

import json
from dataclasses import dataclass

from pier.codec import from_dict, to_dict
from pier.metadata import Database
from pier.networking.model import Attachment, Network, PortMapping

_SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id   TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS net_attachments (
    container_id TEXT NOT NULL,
    network_id   TEXT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (container_id, network_id)
);
CREATE TABLE IF NOT EXISTS net_sandboxes (
    container_id TEXT PRIMARY KEY,
    body         TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Sandbox:
    """A running container's network namespace and the host ports it holds."""

    container_id: str
    netns: str
    ports: tuple[PortMapping, ...] = ()
    # The upstream resolvers its embedded DNS forwards to (--dns, else the daemon's).
    dns: tuple[str, ...] = ()
    # Its /etc/hosts and the names of its own lines there: a network connected or
    # disconnected while it runs adds or takes out its addresses' lines.
    hosts_file: str = ""
    host_names: str = ""
    # Its legacy links: (target container id, the names of the target's hosts lines),
    # so a target started again with a new address is written in (moby's parent update).
    links: tuple[tuple[str, str], ...] = ()


class NetworkStore:
    def __init__(self, *, db: Database) -> None:
        self._db = db
        db.ensure_schema(_SCHEMA)

    def networks(self) -> list[Network]:
        return [
            from_dict(Network, json.loads(r["body"]))
            for r in self._db.query("SELECT body FROM networks")
        ]

    def save_network(self, net: Network) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO networks (id, name, body) VALUES (?, ?, ?)",
                (net.id, net.name, json.dumps(to_dict(net))),
            )

    def remove_network(self, net_id: str) -> None:
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM networks WHERE id = ?", (net_id,))

    def attachments(self) -> list[Attachment]:
        return [
            from_dict(Attachment, json.loads(r["body"]))
            for r in self._db.query("SELECT body FROM net_attachments")
        ]

    def save_attachments(self, *items: Attachment) -> None:
        with self._db.transaction() as tx:
            for a in items:
                tx.execute(
                    "INSERT OR REPLACE INTO net_attachments (container_id, network_id, body) "
                    "VALUES (?, ?, ?)",
                    (a.container_id, a.key, json.dumps(to_dict(a))),
                )

    def remove_attachment(self, cid: str, net_id: str) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "DELETE FROM net_attachments WHERE container_id = ? AND network_id = ?",
                (cid, net_id),
            )

    def forget_container(self, cid: str) -> None:
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM net_attachments WHERE container_id = ?", (cid,))
            tx.execute("DELETE FROM net_sandboxes WHERE container_id = ?", (cid,))

    def sandboxes(self) -> list[Sandbox]:
        return [
            from_dict(Sandbox, json.loads(r["body"]))
            for r in self._db.query("SELECT body FROM net_sandboxes")
        ]

    def save_sandbox(self, sandbox: Sandbox, *attachments: Attachment) -> None:
        with self._db.transaction() as tx:
            tx.execute(
                "INSERT OR REPLACE INTO net_sandboxes (container_id, body) VALUES (?, ?)",
                (sandbox.container_id, json.dumps(to_dict(sandbox))),
            )
            for a in attachments:
                tx.execute(
                    "INSERT OR REPLACE INTO net_attachments (container_id, network_id, body) "
                    "VALUES (?, ?, ?)",
                    (a.container_id, a.key, json.dumps(to_dict(a))),
                )

    def drop_sandbox(self, cid: str, *attachments: Attachment) -> None:
        with self._db.transaction() as tx:
            tx.execute("DELETE FROM net_sandboxes WHERE container_id = ?", (cid,))
            for a in attachments:
                tx.execute(
                    "INSERT OR REPLACE INTO net_attachments (container_id, network_id, body) "
                    "VALUES (?, ?, ?)",
                    (a.container_id, a.key, json.dumps(to_dict(a))),
                )
