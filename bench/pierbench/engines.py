"""The engines under test, each started on its own socket, data root and exec root.

Every engine is driven through the same docker CLI (DOCKER_HOST pointed at its socket),
so the engine and not the client is measured; `native` is the engine's own CLI, for the
extra rows. Nothing here touches /var/lib/docker, /run/docker.sock or /var/lib/containers.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import resource
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from .cleanup import Cleanup, kill_mentioning, unmount_under
from .proc import CommandFailed, Timed, process_set, run


class Unavailable(Exception):
    """This engine cannot do this (yet): the figure is n/a, with this reason."""


def http_get(sock: Path, path: str, *, timeout: float = 30) -> tuple[int, bytes]:
    """One request on a fresh connection, the way a CLI makes it."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(timeout)
        conn.connect(str(sock))
        conn.sendall(
            f"GET {path} HTTP/1.1\r\nHost: api.moby.localhost\r\nConnection: close\r\n\r\n".encode()
        )
        chunks: list[bytes] = []
        while True:
            data = conn.recv(65536)
            if not data:
                break
            chunks.append(data)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 else 0
    if b"transfer-encoding: chunked" in head.lower():
        body = dechunk(body)
    return status, body


def dechunk(body: bytes) -> bytes:
    """Decode an HTTP/1.1 chunked body (trailers ignored)."""
    out = bytearray()
    pos = 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";", 1)[0], 16)
        if size == 0:
            return bytes(out)
        out += body[end + 2 : end + 2 + size]
        pos = end + 2 + size + 2


def delete_link_at_cleanup(cleanup: Cleanup, name: str) -> None:
    def delete() -> None:
        if Path(f"/sys/class/net/{name}").exists():
            subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)

    cleanup.push(f"delete link {name}", delete)


def iptables_rules(table: str) -> list[str]:
    if shutil.which("iptables") is None:
        return []
    out = subprocess.run(["iptables", "-w", "-t", table, "-S"], capture_output=True, text=True)
    return out.stdout.splitlines() if out.returncode == 0 else []


def iptables_chains(table: str) -> list[str]:
    return [line.split()[1] for line in iptables_rules(table) if line.startswith("-N ")]


def remove_new_chains(table: str, before: set[str], prefix: str) -> None:
    """Delete chains named `prefix`* that were not there before, and the rules jumping to them."""
    new = [c for c in iptables_chains(table) if c.startswith(prefix) and c not in before]
    if not new:
        return
    for line in iptables_rules(table):
        words = shlex.split(line)
        if words[:1] == ["-A"] and "-j" in words and words[words.index("-j") + 1] in new:
            subprocess.run(["iptables", "-w", "-t", table, "-D", *words[1:]], capture_output=True)
    for chain in new:
        subprocess.run(["iptables", "-w", "-t", table, "-F", chain], capture_output=True)
    for chain in new:
        subprocess.run(["iptables", "-w", "-t", table, "-X", chain], capture_output=True)


class Engine:
    """Base: a daemon serving the Docker API on `socket`, started under `root`."""

    name = "engine"

    def __init__(self, *, root: Path, docker_cli: str) -> None:
        self.root = root
        self.docker_cli = docker_cli
        self.socket = root / "api.sock"
        self.process: subprocess.Popen[bytes] | None = None
        self.reason = ""
        self.version = ""
        self.config_dir = root / "docker-config"

    # -- lifecycle -------------------------------------------------------------------
    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def prepare(self, cleanup: Cleanup) -> None:
        """Files and host state the daemon needs before it starts."""

    def start(self, cleanup: Cleanup) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(exist_ok=True)
        cleanup.push(f"remove {self.root}", lambda: shutil.rmtree(self.root, ignore_errors=True))
        cleanup.push(f"unmount under {self.root}", lambda: unmount_under(str(self.root)))
        cleanup.push(f"kill processes of {self.name}", lambda: kill_mentioning(str(self.root)))
        self.prepare(cleanup)
        log = open(self.root / "daemon.log", "wb")  # noqa: SIM115 - lives as long as the daemon
        cleanup.push(f"close {self.name} log", log.close)
        try:
            self.process = subprocess.Popen(
                self.command(),
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Own session: a Ctrl-C on the terminal reaches us, and we stop it in order.
                start_new_session=True,
            )
        except OSError as exc:
            raise Unavailable(f"cannot start {self.name}: {exc}") from exc
        cleanup.push(f"stop {self.name}", self.stop)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(
                    f"{self.name} exited {self.process.returncode}: {self.log_tail()}"
                )
            try:
                if http_get(self.socket, "/_ping", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.1)
        else:
            raise Unavailable(f"{self.name} did not answer /_ping in 90 s: {self.log_tail()}")
        try:
            self.version = self.docker("version", "--format", "{{.Server.Version}}").stdout.strip()
        except CommandFailed as exc:
            self.version = f"unknown ({exc})"

    def log_tail(self) -> str:
        try:
            text = (self.root / "daemon.log").read_text(errors="replace")
        except OSError:
            return ""
        return " ".join(text.strip().splitlines()[-3:])[-400:]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.remove_all_containers()
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    # -- clients ---------------------------------------------------------------------
    def client_env(self, **extra: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DOCKER_HOST=f"unix://{self.socket}",
            DOCKER_CONFIG=str(self.config_dir),
            DOCKER_CLI_HINTS="false",
        )
        env.pop("DOCKER_CONTEXT", None)
        env.update(extra)
        return env

    def docker(self, *args: str, timeout: float = 300, **extra_env: str) -> Timed:
        return run([self.docker_cli, *args], env=self.client_env(**extra_env), timeout=timeout)

    def native(self) -> list[str] | None:
        """argv prefix of the engine's own CLI, or None when it has none of its own."""
        return None

    def native_env(self) -> dict[str, str]:
        return self.client_env()

    # -- measurement -----------------------------------------------------------------
    def pids(self) -> set[int]:
        roots = [self.process.pid] if self.process and self.process.poll() is None else []
        return process_set(roots, [str(self.root)])

    def container_ids(self) -> list[str]:
        out = self.docker("ps", "-aq", "--no-trunc", timeout=120).stdout
        return [line for line in out.split() if line]

    def remove_all_containers(self) -> None:
        ids = self.container_ids()
        for start in range(0, len(ids), 50):
            self.docker("rm", "-f", *ids[start : start + 50], timeout=300)


class DockerEngine(Engine):
    """dockerd with the containerd it spawns; a bridge of our own, no iptables changes."""

    name = "docker"
    bridge = "pbench-d0"
    bridge_cidr = "10.213.0.1/24"

    def prepare(self, cleanup: Cleanup) -> None:
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            run(["ip", "link", "add", self.bridge, "type", "bridge"])
            delete_link_at_cleanup(cleanup, self.bridge)
            run(["ip", "addr", "add", self.bridge_cidr, "dev", self.bridge])
            run(["ip", "link", "set", self.bridge, "up"])

    def command(self) -> list[str]:
        return [
            shutil.which("dockerd") or "dockerd",
            "-H",
            f"unix://{self.socket}",
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "--bridge",
            self.bridge,
            # Loopback-only benchmark: no NAT, no forwarding sysctl, no iptables chains.
            "--iptables=false",
            "--ip-masq=false",
            "--ip-forward=false",
            "--default-ulimit",
            "nofile=1024:1024",
            "--log-level",
            "warn",
        ]

    def native(self) -> list[str] | None:
        return [self.docker_cli]


class PodmanEngine(Engine):
    """`podman system service` on its own storage, run root, tmp dir and CNI config dir."""

    name = "podman"
    cni_bridge = "cni-podman0"

    def __init__(self, *, root: Path, docker_cli: str, registries: Sequence[str] = ()) -> None:
        super().__init__(root=root, docker_cli=docker_cli)
        self.registries = list(registries)

    def prepare(self, cleanup: Cleanup) -> None:
        # The CNI bridge, firewall and portmap plugins make a bridge and iptables chains on
        # first use and never delete them: remove those that this run brought.
        if not Path(f"/sys/class/net/{self.cni_bridge}").exists():
            delete_link_at_cleanup(cleanup, self.cni_bridge)
        for table in ("filter", "nat"):
            before = set(iptables_chains(table))
            cleanup.push(
                f"remove CNI chains of table {table}",
                functools.partial(remove_new_chains, table, before, "CNI-"),
            )
        nproc = min(4096, resource.getrlimit(resource.RLIMIT_NPROC)[1])
        for sub in ("storage", "run", "tmp", "cni"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        (self.root / "containers.conf").write_text(
            "[containers]\n"
            # Podman asks for more than crun may set here (no CAP_SYS_RESOURCE):
            # 65536 fails, 4096 works.
            f'default_ulimits = ["nofile=1024:1024", "nproc={nproc}:{nproc}"]\n'
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f'events_logfile_path = "{self.root}/events.log"\n'
            'runtime = "crun"\n'
            f'tmp_dir = "{self.root}/tmp"\n'
            "[network]\n"
            'network_backend = "cni"\n'
            f'network_config_dir = "{self.root}/cni"\n'
            'cni_plugin_dirs = ["/usr/lib/cni"]\n'
        )
        (self.root / "storage.conf").write_text(
            "[storage]\n"
            'driver = "overlay"\n'
            f'graphroot = "{self.root}/storage"\n'
            f'runroot = "{self.root}/run"\n'
        )
        insecure = "".join(
            f'[[registry]]\nlocation = "{r}"\ninsecure = true\n' for r in self.registries
        )
        (self.root / "registries.conf").write_text(
            'unqualified-search-registries = ["docker.io"]\nshort-name-mode = "disabled"\n'
            + insecure
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            CONTAINERS_CONF=str(self.root / "containers.conf"),
            CONTAINERS_STORAGE_CONF=str(self.root / "storage.conf"),
            CONTAINERS_REGISTRIES_CONF=str(self.root / "registries.conf"),
        )
        return env

    def global_flags(self) -> list[str]:
        return [
            "--root",
            str(self.root / "storage"),
            "--runroot",
            str(self.root / "run"),
            "--storage-driver",
            "overlay",
            "--tmpdir",
            str(self.root / "tmp"),
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "file",
            "--runtime",
            "crun",
            "--network-config-dir",
            str(self.root / "cni"),
        ]

    def command(self) -> list[str]:
        podman = shutil.which("podman") or "podman"
        return [
            podman,
            *self.global_flags(),
            "system",
            "service",
            "-t",
            "0",
            f"unix://{self.socket}",
        ]

    def native(self) -> list[str] | None:
        return [shutil.which("podman") or "podman", *self.global_flags()]

    def native_env(self) -> dict[str, str]:
        env = self.env()
        env.pop("DOCKER_HOST", None)
        return env


class PierEngine(Engine):
    """pierd from the project's virtual environment; its CLI `pier` for the extra rows."""

    name = "pier"

    def __init__(self, *, root: Path, docker_cli: str, bindir: Path) -> None:
        super().__init__(root=root, docker_cli=docker_cli)
        self.bindir = bindir

    # A default bridge, subnet and nftables table of its own, named after this run's
    # directory, as dockerd gets pbench-d0: a pierd of the machine, or of a benchmark
    # another session runs at the same time, keeps its own (two pierds on one bridge
    # or table undo each other's rules).

    def command(self) -> list[str]:
        pierd = self.bindir / "pierd"
        if not pierd.exists():
            raise Unavailable(f"{pierd} does not exist")
        config = self.root / "daemon.json"
        self.root.mkdir(parents=True, exist_ok=True)
        tag = self.root.parent.name.rsplit("-", 1)[-1][:8]
        n = sum(tag.encode())
        config.write_text(
            json.dumps(
                {
                    "bridge": f"pbp-{tag}"[:15],
                    "bip": f"10.{216 + n % 16}.{n // 16 % 256}.1/24",
                    "default-address-pools": [{"base": f"10.{232 + n % 16}.0.0/16", "size": 24}],
                    "nft-table": f"pier_bench_{tag}",
                }
            )
        )
        return [
            str(pierd),
            "-H",
            f"unix://{self.socket}",
            "--data-root",
            str(self.root / "data"),
            "--exec-root",
            str(self.root / "exec"),
            "--config-file",
            str(config),
        ]

    def start(self, cleanup: Cleanup) -> None:
        self.command()  # fail fast, with the reason, if pierd is missing
        super().start(cleanup)
        # Which conmon it starts (its log says): the copy without the journal that
        # `make install` makes, or the stock one, is part of what the memory rows measure.
        try:
            said = re.search(r"conmon: (\S+)", (self.root / "daemon.log").read_text())
        except OSError:
            said = None
        if said:
            lean = said.group(1).endswith("/libexec/pier/conmon")
            self.version += " (conmon without the journal)" if lean else f" ({said.group(1)})"

    def native(self) -> list[str] | None:
        pier = self.bindir / "pier"
        return [str(pier), "-H", f"unix://{self.socket}"] if pier.exists() else None
