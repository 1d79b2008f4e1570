"""The crash-point machinery of tests/crash: run an operation through the real docker
CLI, SIGKILL pierd at a chosen moment of it, start pierd again on the same roots and
check what must hold after any crash.

An `Operation` is one entry: how to prepare (`setup`, through the CLI, before the
clock starts), the command whose middle is hit (`argv`), and what must be true when
the client saw it succeed (`acked`). The invariants every point checks are in
`Checker`; resources other kinds of operation add (networks, volumes...) belong in
`Checker.leftovers` and in pier_testing.leaks.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pier.client.errors import ClientError
from pier_testing.daemon import PierDaemon
from pier_testing.procs import cmdlines

Facts = dict[str, str]
ANSWER_WITHIN = 2.0  # seconds from a restart to the first answer


@dataclass
class Ctx:
    """What an operation's functions get: the daemon, a CLI runner, scratch space."""

    daemon: PierDaemon
    busybox_tar: Path
    counter: int = 0
    # What the daemon holds with nothing in it (its bridge, its nft table...): what
    # `Checker.leftovers` may find once everything is removed.
    baseline: frozenset[str] = frozenset()

    def docker(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        proc = subprocess.run(
            ["docker", *args],
            env=self.daemon.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)}: {proc.returncode} {proc.stderr}")
        return proc.stdout.strip()

    def unique(self, stem: str) -> str:
        self.counter += 1
        return f"{stem}-{self.counter}"

    def inspect(self, ref: str) -> dict[str, Any] | None:
        try:
            return dict(self.daemon.client.get_json(f"/containers/{ref}/json"))
        except ClientError:
            return None

    def image(self, ref: str) -> dict[str, Any] | None:
        try:
            return dict(self.daemon.client.get_json(f"/images/{ref}/json"))
        except ClientError:
            return None

    def layer_tar(self, size: int = 1 << 20) -> Path:
        """A tar of one file of fresh random bytes: a layer no other image has."""
        import io
        import tarfile

        path = self.daemon.base / f"layer-{self.counter}-{os.getpid()}.tar"
        with tarfile.open(path, "w") as tf:
            data = os.urandom(size)
            info = tarfile.TarInfo("payload.bin")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
            for i in range(64):  # some files, so unpacking takes a while
                small = tarfile.TarInfo(f"files/{i}")
                small.size = 1
                tf.addfile(small, io.BytesIO(b"x"))
        return path


def _nothing(ctx: Ctx) -> Facts:
    return {}


def _no_check(ctx: Ctx, facts: Facts) -> list[str]:
    return []


@dataclass(frozen=True, kw_only=True)
class Operation:
    name: str
    argv: Callable[[Facts], list[str]]
    setup: Callable[[Ctx], Facts] = _nothing
    acked: Callable[[Ctx, Facts], list[str]] = _no_check
    timeout: float = 30.0

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, kw_only=True)
class Outcome:
    acked: bool
    answered_in: float
    violations: list[str] = field(default_factory=list)


def run_uninterrupted(ctx: Ctx, op: Operation) -> float:
    """The operation's duration without a crash (the spread of kill moments)."""
    facts = op.setup(ctx)
    started = time.monotonic()
    ctx.docker(*op.argv(facts), timeout=op.timeout)
    return time.monotonic() - started


def crash_at(ctx: Ctx, op: Operation, delay: float) -> Outcome:
    """Run `op`, SIGKILL pierd `delay` seconds after the client started, restart it
    and check every invariant."""
    facts = op.setup(ctx)
    client = subprocess.Popen(
        ["docker", *op.argv(facts)],
        env=ctx.daemon.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    # The moment is the experiment: this is where the crash lands, not a wait for a
    # condition.
    time.sleep(delay)
    ctx.daemon.kill9()
    try:
        client.communicate(timeout=op.timeout)
    except subprocess.TimeoutExpired:
        client.kill()
        client.communicate()
        raise AssertionError(f"{op}: the client hung after pierd died") from None
    acked = client.returncode == 0
    started = time.monotonic()
    ctx.daemon.start()
    answered_in = time.monotonic() - started
    checker = Checker(ctx)
    violations: list[str] = []
    # Wall time on a loaded 2-core machine mostly measures the other tenants: what
    # must stay under 2 s is the work pierd does before its first answer (its CPU
    # time, imports included) and its restore (which includes its waits).
    cpu, restore = startup_cost(ctx.daemon)
    if cpu > ANSWER_WITHIN or restore > ANSWER_WITHIN:
        violations.append(
            f"pierd answered after {answered_in:.2f} s ({cpu:.2f} s of CPU, "
            f"restore {restore:.2f} s)"
        )
    if acked:
        violations += [f"acknowledged {op} lost: {v}" for v in op.acked(ctx, facts)]
    violations += checker.consistent()
    violations += checker.usable()
    violations += checker.leftovers()
    return Outcome(acked=acked, answered_in=answered_in, violations=violations)


def startup_cost(daemon: PierDaemon) -> tuple[float, float]:
    """pierd's CPU time so far and the restore time it logged last."""
    assert daemon.proc is not None
    fields = Path(f"/proc/{daemon.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    restore = 0.0
    for line in daemon.log.read_text(errors="replace").splitlines():
        if "API listening on" in line and "restore " in line:
            restore = float(line.rsplit("restore ", 1)[1].split()[0])
    return cpu, restore


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


class Checker:
    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.daemon = ctx.daemon
        self.client = ctx.daemon.client

    def containers(self) -> list[dict[str, Any]]:
        out = []
        for c in self.client.get_json("/containers/json", all=1):
            info = self.ctx.inspect(c["Id"])
            if info is not None:
                out.append(info)
        return out

    def monitors(self) -> dict[int, str]:
        """conmon processes of this daemon: pid -> container id."""
        root = str(self.daemon.exec_root) + "/conmon/"
        found = {}
        for pid, cmdline in cmdlines():
            argv = cmdline.split(b"\0")
            if not argv[0].endswith(b"conmon"):
                continue
            for arg in argv:
                text = arg.decode(errors="replace")
                if text.startswith(root):
                    found[pid] = text[len(root) :].split("/")[0]
                    break
        return found

    def consistent(self) -> list[str]:
        """Running means a live process; every monitor belongs to a listed container;
        no AutoRemove container outlives its process."""
        violations = []
        listed = self.containers()
        ids = {c["Id"] for c in listed}
        for c in listed:
            state = c["State"]
            if state["Running"] and not state["Restarting"]:
                pid = state["Pid"]
                if not pid or not os.path.exists(f"/proc/{pid}"):
                    violations.append(f"{c['Name']} is listed running without a process")
        for pid, cid in self.monitors().items():
            if cid not in ids:
                violations.append(f"monitor {pid} of unlisted container {cid[:12]}")

        def auto_removed() -> bool:
            return not [
                c
                for c in self.containers()
                if c["HostConfig"].get("AutoRemove") and not c["State"]["Running"]
            ]

        if not _wait(auto_removed, 10):
            violations.append("a stopped AutoRemove container is still listed")
        return violations

    def usable(self) -> list[str]:
        """Every listed container can be started, stopped and removed."""
        violations = []
        for c in self.containers():
            ref, name = c["Id"], c["Name"]
            try:
                if c["State"]["Paused"]:
                    self.client.post(f"/containers/{ref}/unpause")
                elif not c["State"]["Running"]:
                    self.client.post(f"/containers/{ref}/start")
                self.client.post(f"/containers/{ref}/stop", t=1)
                self.client.delete(f"/containers/{ref}")
            except ClientError as exc:
                violations.append(f"{name}: {exc}")
                try:
                    self.client.delete(f"/containers/{ref}", force=1)
                except ClientError as again:
                    violations.append(f"{name} cannot be removed even by force: {again}")
        return violations

    def leftovers(self) -> list[str]:
        """Once everything is removed through the API, nothing may remain on the host
        or under the daemon's roots."""
        for c in self.client.get_json("/containers/json", all=1):
            try:
                self.client.delete(f"/containers/{c['Id']}", force=1)
            except ClientError as exc:
                return [f"{c['Names'][0]} cannot be removed: {exc}"]
        for net in self.client.get_json("/networks"):
            if net["Name"] in ("bridge", "host", "none"):
                continue
            try:
                self.client.delete(f"/networks/{net['Id']}")
            except ClientError as exc:
                return [f"network {net['Name']} cannot be removed: {exc}"]
        for image in self.client.get_json("/images/json", all=1):
            try:
                self.client.delete(f"/images/{image['Id']}", force=1)
            except ClientError as exc:
                if "No such image" not in str(exc):
                    return [f"image {image['Id'][:19]} cannot be removed: {exc}"]
        found: list[str] = []

        def clean() -> bool:
            found[:] = [r for r in self.remains() if r not in self.ctx.baseline]
            return not found

        _wait(clean, 10)
        return [f"left behind: {thing}" for thing in found]

    def remains(self) -> list[str]:
        d = self.daemon
        out = [
            r
            for r in d._scope.snapshot()  # mounts, processes, cgroups, netns
            if str(d.base) in r or d.cgroup_parent.strip("/") in r
        ]
        places = {
            "container directory": d.data_root / "containers",
            "snapshot": d.data_root / "snapshots",
            "blob": d.data_root / "content" / "blobs" / "sha256",
            "ingest": d.data_root / "content" / "ingest",
            "temp file": d.data_root / "tmp",
            "monitor directory": d.exec_root / "conmon",
        }
        for kind, place in places.items():
            if place.is_dir():
                out += [f"{kind} {entry.name}" for entry in place.iterdir()]
        return out
