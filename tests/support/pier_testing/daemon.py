"""A real pierd on a temporary socket, data root and exec root."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from pier.client.api import Client
from pier.client.errors import ClientError
from pier_testing.leaks import Scope
from pier_testing.netpool import claim_subnet, release_subnet, remove_networking

PIERD = [sys.executable, "-m", "pier.daemon.main"]


class PierDaemon:
    """Start, kill -9, restart and stop one pierd. Its roots live under a short
    /tmp/pt-XXXX directory: conmon's socket paths must fit in sun_path."""

    def __init__(self, scope: Scope, *, default_runtime: str | None = None) -> None:
        self.base = Path(f"/tmp/pt-{secrets.token_hex(4)}")
        self.base.mkdir()
        self.socket = self.base / "pier.sock"
        self.data_root = self.base / "data"
        self.exec_root = self.base / "run"
        self.cgroup_parent = f"/pier-test-{self.base.name[3:]}"
        self.log = self.base / "pierd.log"
        # Networking of its own: daemons of parallel workers (and other sessions on
        # this machine) share the host's links, routes and nftables.
        self.net = claim_subnet(self.base.name)
        self.bridge = f"pt{self.base.name[3:]}"
        self.nft_table = f"pier_{self.base.name[3:]}"
        config = {
            "cgroup-parent": self.cgroup_parent,
            "fix-hybrid-cgroups": True,
            "bridge": self.bridge,
            "bip": f"10.{self.net}.0.1/24",
            "default-address-pools": [{"base": f"10.{self.net}.0.0/16", "size": 24}],
            "nft-table": self.nft_table,
        }
        if default_runtime:
            config["default-runtime"] = default_runtime
        self.config_file = self.base / "daemon.json"
        self.config_file.write_text(json.dumps(config))
        self.proc: subprocess.Popen[bytes] | None = None
        scope.roots.add(str(self.base) + "/")
        scope.cgroup_parents.add(self.cgroup_parent)
        scope.nft_tables[self.nft_table] = str(self.base)
        self._scope = scope
        self.client = Client(str(self.socket), timeout=60)

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        """Environment for a real docker / pier CLI talking to this daemon."""
        env = dict(os.environ)
        env["DOCKER_HOST"] = self.host
        env["PIER_HOST"] = self.host
        env.pop("DOCKER_CONTEXT", None)
        env["DOCKER_CONFIG"] = str(self.base / "docker-config")
        return env

    def command(self) -> list[str]:
        """pierd's command line (a subclass adds flags or listens elsewhere)."""
        return [
            *PIERD,
            "-H",
            self.host,
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--config-file",
            str(self.config_file),
            "--log-level",
            "debug",
        ]

    def spawn(self, argv: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
        """Start pierd (a subclass hands it descriptors or a wrapper)."""
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = self.spawn(self.command(), log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"pierd exited {self.proc.returncode}:\n{self.log_text()}")
            try:
                self.client.ping()
                return
            except (ClientError, OSError):
                time.sleep(0.05)
        raise RuntimeError(f"pierd did not answer within 30 s:\n{self.log_text()}")

    def removals_done(self, timeout: float = 30.0) -> None:
        """Wait until the directories pierd removes behind its answers (moved into
        tmp/removing, deleted by a thread of its own) are gone: a check of what a
        request left on disk reads the final state, not the trash on its way out."""
        trash = self.data_root / "tmp" / "removing"
        deadline = time.monotonic() + timeout
        while trash.is_dir() and any(trash.iterdir()):
            if time.monotonic() > deadline:
                raise AssertionError(f"{trash} still holds {sorted(os.listdir(trash))}")
            time.sleep(0.05)

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-5000:]
        except OSError:
            return ""

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc = None

    def stop(self) -> int:
        """SIGTERM; returns pierd's exit status."""
        if self.proc is None:
            return 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(10)
        self.proc = None
        return code

    def restart(self) -> None:
        self.stop()
        self.start()

    def remove_all_containers(self) -> None:
        for c in self.client.get_json("/containers/json", all=1):
            with contextlib.suppress(ClientError):
                self.client.delete(f"/containers/{c['Id']}", force=1)

    def destroy(self) -> None:
        """Remove every container, stop the daemon, remove the roots."""
        if self.proc is None and self.socket.exists():
            self.start()
        if self.proc is not None:
            try:
                self.remove_all_containers()
            finally:
                self.stop()
        self._scope.remove_cgroup_parents()
        remove_networking(self.bridge, self.nft_table, str(self.exec_root))
        release_subnet(self.net)
        subprocess.run(["umount", "-R", "-l", str(self.base)], capture_output=True)
        shutil.rmtree(self.base, ignore_errors=True)
