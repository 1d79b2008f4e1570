"""SIGHUP: daemon.json read again and its reloadable keys applied, as dockerd's Reload.

Reloadable in Pier: `log-level`, `insecure-registries`, `registry-mirrors` and `labels`
(the others shape state made at start: roots, networks, runtimes, listeners). Labels
are checked as at start; a file without them keeps those in effect (moby's
IsValueSet), and a swarm node's record takes the new ones. A file that does not
parse changes nothing and is logged, as dockerd logs "Error reconfiguring the daemon".
The `daemon reload` event carries moby's attributes for what Pier has.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from pathlib import Path
from typing import Protocol

from pier.config import load_config_file
from pier.errors import PierError
from pier.events import EventBus

log = logging.getLogger(__name__)

LEVELS = {"warn": "WARNING", "fatal": "CRITICAL"}


class Labels(Protocol):
    """The daemon's labels in effect, and where new ones go (/info, the swarm node)."""

    @property
    def labels(self) -> tuple[str, ...]: ...

    async def relabel(self, labels: tuple[str, ...]) -> None: ...


class Registries(Protocol):
    def reconfigure(
        self, *, insecure_registries: tuple[str, ...], mirrors: tuple[str, ...]
    ) -> None: ...


def attribute_list(values: tuple[str, ...]) -> str:
    """A list as moby's marshalAttributeSlice writes it: Go's json.Marshal, which keeps
    non-ASCII as is but escapes <, >, & and the JavaScript line separators."""
    text = json.dumps(list(values), separators=(",", ":"), ensure_ascii=False)
    for char, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(char, escaped)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def log_level_name(level: str) -> str:
    """A daemon.json log level as the logging module names it."""
    return LEVELS.get(level, level.upper())


async def reload(
    path: Path | None,
    *,
    daemon_id: str,
    default_runtime: str,
    log_level: str,
    registries: Registries,
    events: EventBus,
    labels: Labels,
    lock: asyncio.Lock,
) -> bool:
    """Apply `path`'s reloadable keys; False (and nothing changed) when it is unusable.
    A file without `log-level` keeps `log_level`, the one pierd started with (from its
    flag or the file), rather than falling back to info: dockerd's reload changes its
    logging only when the file sets `debug`.

    One reload at a time under `lock` (the daemon's, as moby's configReload): the file
    is read in a thread and the labels wait for the swarm, so two SIGHUPs in a row
    could otherwise finish out of order and leave the older file's labels in effect."""
    async with lock:
        if path is None:
            log.info("SIGHUP: no configuration file to reload")
            return False
        try:
            values = await asyncio.to_thread(load_config_file, path)
            level = log_level_name(str(values.get("log_level", log_level)))
            if not isinstance(logging.getLevelName(level), int):
                raise PierError(f"unable to parse logging level: {values.get('log_level')}")
        except (PierError, ValueError, TypeError, AttributeError) as exc:
            log.error("Error reconfiguring the daemon: %s", exc)
            return False
        insecure = tuple(values.get("insecure_registries", ()))
        mirrors = tuple(values.get("registry_mirrors", ()))
        new_labels = tuple(values["labels"]) if "labels" in values else labels.labels
        logging.getLogger().setLevel(level)
        registries.reconfigure(insecure_registries=insecure, mirrors=mirrors)
        await labels.relabel(new_labels)
        attributes = {
            "debug": "true" if level == "DEBUG" else "false",
            "insecure-registries": attribute_list(insecure),
            "registry-mirrors": attribute_list(mirrors),
            "labels": attribute_list(new_labels),
            "live-restore": "true",
            "default-runtime": default_runtime,
            "name": socket.gethostname(),
        }
        events.publish("daemon", "reload", daemon_id, attributes)
        log.info("Reloaded configuration: %s", path)
        return True
