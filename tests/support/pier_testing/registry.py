"""Real registries on loopback for the distribution tests: Debian's `docker-registry`
(distribution 2.8) with or without htpasswd or a token server, and Pier's own
`pier registry serve`. Each runs on a free port of 127.0.0.1 with its storage in a
temporary directory, and is stopped (and waited for) by `stop()`."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pier_testing.ports import free_port

DOCKER_REGISTRY = "/usr/bin/docker-registry"


def wait_listening(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"registry exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"registry did not listen on {port}:\n{log.read_text()[-3000:]}")


def htpasswd_line(user: str, password: str) -> str:
    """An htpasswd entry; distribution accepts only bcrypt ones."""
    import bcrypt

    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return f"{user}:{hashed}\n"


class Registry:
    """One registry process. `address` is `127.0.0.1:<port>`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.log = root / "registry.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def _spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
            )
        wait_listening(self.port, self.proc, self.log)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc = None

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None

    def url(self, path: str) -> str:
        return f"http://{self.address}{path}"

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        req = urllib.request.Request(self.url(path), headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)


class DistributionRegistry(Registry):
    """Debian's docker-registry (distribution 2.8.2)."""

    def __init__(
        self,
        root: Path,
        *,
        htpasswd: dict[str, str] | None = None,
        token: dict[str, str] | None = None,
    ) -> None:
        super().__init__(root)
        self.storage = root / "storage"
        config: dict[str, object] = {
            "version": 0.1,
            "log": {"level": "info"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
                "maintenance": {"uploadpurging": {"enabled": False}},
            },
            "http": {"addr": self.address, "secret": "pier-tests"},
        }
        if htpasswd is not None:
            path = root / "htpasswd"
            path.write_text("".join(htpasswd_line(u, p) for u, p in htpasswd.items()))
            config["auth"] = {"htpasswd": {"realm": "pier-tests", "path": str(path)}}
        if token is not None:
            config["auth"] = {"token": token}
        self.config = root / "config.yml"
        # JSON is YAML.
        self.config.write_text(json.dumps(config))

    def start(self) -> DistributionRegistry:
        self._spawn([DOCKER_REGISTRY, "serve", str(self.config)])
        return self

    def push_blob(self, repo: str, data: bytes) -> str:
        """Upload `data` as a blob of `repo` (monolithic PUT); its digest."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        start = urllib.request.Request(self.url(f"/v2/{repo}/blobs/uploads/"), method="POST")
        with urllib.request.urlopen(start, timeout=30) as resp:
            location = resp.headers["Location"]
        if location.startswith("/"):
            location = self.url(location)
        sep = "&" if "?" in location else "?"
        put = urllib.request.Request(f"{location}{sep}digest={digest}", data=data, method="PUT")
        put.add_header("Content-Type", "application/octet-stream")
        with urllib.request.urlopen(put, timeout=30):
            pass
        return digest


class PierRegistry(Registry):
    """`pier registry serve` (Pier's own OCI distribution server)."""

    def __init__(self, root: Path, *, extra: tuple[str, ...] = ()) -> None:
        super().__init__(root)
        self.storage = root / "storage"
        self.extra = extra

    def argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "pier.cli.main",
            "registry",
            "serve",
            "--addr",
            self.address,
            "--root",
            str(self.storage),
            *self.extra,
        ]

    def start(self) -> PierRegistry:
        self._spawn(self.argv())
        return self


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def have_docker_registry() -> bool:
    return os.access(DOCKER_REGISTRY, os.X_OK)
