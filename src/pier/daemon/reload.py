"""SIGHUP: daemon.json read again and its reloadable keys applied, as dockerd's Reload.

Reloadable in Pier: `log-level`, `insecure-registries`, `registry-mirrors` (the others
shape state made at start: roots, networks, runtimes, listeners). A file that does not
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


class Registries(Protocol):
    def reconfigure(
        self, *, insecure_registries: tuple[str, ...], mirrors: tuple[str, ...]
    ) -> None: ...


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
) -> bool:
    """Apply `path`'s reloadable keys; False (and nothing changed) when it is unusable.
    A file without `log-level` keeps `log_level`, the one pierd started with (from its
    flag or the file), rather than falling back to info: dockerd's reload changes its
    logging only when the file sets `debug`."""
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
    logging.getLogger().setLevel(level)
    registries.reconfigure(insecure_registries=insecure, mirrors=mirrors)
    attributes = {
        "debug": "true" if level == "DEBUG" else "false",
        "insecure-registries": json.dumps(list(insecure), separators=(",", ":")),
        "registry-mirrors": json.dumps(list(mirrors), separators=(",", ":")),
        "labels": "[]",
        "live-restore": "true",
        "default-runtime": default_runtime,
        "name": socket.gethostname(),
    }
    events.publish("daemon", "reload", daemon_id, attributes)
    log.info("Reloaded configuration: %s", path)
    return True
