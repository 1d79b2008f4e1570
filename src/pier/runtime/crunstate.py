"""What the driver does with crun's own state instead of running crun for it.

Each `crun` process costs a fork, an exec, a parse of the whole spec and a read of the
state: 4-12 ms here, on the answer path of every `run`. Three steps need none of that:

- **start**: `crun create` leaves the container's init blocked reading
  `<root>/<id>/exec.fifo`; `crun start` only checks the init lives, opens the FIFO for
  writing, unlinks it and writes one byte (crun's `libcrun_status_write_exec_fifo`),
  then runs poststart hooks (Pier's specs have none). The FIFO's reader is the init,
  so opening for writing without blocking fails (ENXIO) exactly when it is gone.
- **delete of a stopped container**: crun removes the container's cgroups and its
  state directory (and runs poststop hooks: none). When a cgroup still holds a
  process (a container sharing the host's pid namespace leaves its children behind),
  the caller falls back to `crun delete --force`, which kills them.
- **seccomp**: crun compiles the spec's seccomp section with libseccomp at every
  create (5-15 ms for Docker's default profile) and keeps the result in
  `<root>/<id>/seccomp.bpf`. A compiled filter read from there is handed to the next
  container with the same section through crun's `run.oci.seccomp_bpf_data`
  annotation, so libseccomp runs once per profile per daemon: crun's own compiler,
  never one of ours.

runc keeps different state (its init writes the FIFO and `start` reads it), so all of
this is for crun only and every doubt falls back to the runtime's command.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from pier.errors import SystemFailure
from pier.runtime import cgroups

SECCOMP_ANNOTATION = "run.oci.seccomp_bpf_data"


def start(state_dir: Path) -> bool:
    """Let a created container's init run; False if crun's `start` must do it."""
    fifo = state_dir / "exec.fifo"
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False  # no FIFO (not created, or started) or no reader: crun says which
    try:
        os.unlink(fifo)
        os.write(fd, b"\0")
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def delete_stopped(state_dir: Path) -> bool:
    """Remove a stopped container's cgroups and state; False if crun must do it."""
    try:
        status = json.loads((state_dir / "status").read_bytes())
    except FileNotFoundError:
        status = {}  # crun died half-way through its create: only the directory is left
    except (OSError, ValueError):
        return False
    if not isinstance(status, dict) or status.get("systemd-cgroup"):
        return False
    cgroup_path = status.get("cgroup-path")
    if cgroup_path:
        try:
            cgroups.remove(str(cgroup_path))
        except SystemFailure:
            return False  # still in use: crun's delete --force kills what is left
    try:
        shutil.rmtree(state_dir)
    except FileNotFoundError:
        pass
    except OSError:
        return False
    return True


class CompiledFilters:
    """crun's compiled seccomp filters, by the seccomp section they came from. At
    most `keep` of them (about 11 KiB each for Docker's profile), the oldest learnt
    going first: each client-made profile is a section of its own."""

    def __init__(self, keep: int = 64) -> None:
        self._by_key: dict[str, str] = {}
        self._keep = keep

    @staticmethod
    def _key(runtime_path: str, config: dict[str, Any]) -> str | None:
        section = config.get("linux", {}).get("seccomp")
        if not isinstance(section, dict) or section.get("listenerPath"):
            return None
        if SECCOMP_ANNOTATION in (config.get("annotations") or {}):
            return None
        raw = json.dumps(section, sort_keys=True, separators=(",", ":"))
        if "SCMP_ACT_NOTIFY" in raw:
            return None  # a listener's descriptor is handed over by crun's own path
        return hashlib.sha256(f"{runtime_path}\0{raw}".encode()).hexdigest()

    def annotate(self, runtime_path: str, config: dict[str, Any]) -> tuple[bool, str | None]:
        """Add the compiled filter to `config` if one is known: (whether `config`
        changed, the key to `learn` from the container's state after its create)."""
        key = self._key(runtime_path, config)
        if key is None:
            return False, None
        data = self._by_key.get(key)
        if data is None:
            return False, key
        annotations = config.get("annotations") or {}
        config["annotations"] = {**annotations, SECCOMP_ANNOTATION: data}
        return True, None

    def learn(self, key: str, state_dir: Path) -> None:
        """Keep the filter crun compiled for a container just created (if it can be
        read: the next container compiles it again otherwise)."""
        try:
            compiled = (state_dir / "seccomp.bpf").read_bytes()
        except OSError:
            return
        # A BPF program is a whole number of 8-byte instructions; anything else is
        # not what crun wrote, and must not be loaded into containers.
        if compiled and len(compiled) % 8 == 0:
            while len(self._by_key) >= self._keep:
                del self._by_key[next(iter(self._by_key))]
            self._by_key[key] = base64.b64encode(compiled).decode()
