"""Fixtures for the Runtime conformance suite: real conmon, crun and runc.

Each test gets a short exec root (/tmp/pt-xxxx: attach socket paths must fit in
sun_path), a busybox bundle on tmp_path, and a cgroup parent of its own; afterwards
it checks that nothing is left: no monitor or runtime process, no runtime state, no
cgroup, no mount.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import pytest

from pier.config import RuntimeConfig
from pier.runtime import cgroups
from pier.runtime.base import CreateRequest
from pier.runtime.conmon import ConmonRuntime
from pier.runtime.spec import (
    ContainerSpec,
    HostFacts,
    ProcessSpec,
    build_config,
)
from pier_testing.procs import mentioning

APPLETS = ("sh", "echo", "cat", "sleep", "true", "false", "ls", "stty", "id", "printf", "tr")
EMPTY: MappingProxyType[str, str] = MappingProxyType({})


@pytest.fixture(scope="session")
def host_facts() -> HostFacts:
    return HostFacts.detect()


@pytest.fixture(scope="session")
def crun_ready() -> None:
    # A host change the suite needs (DESIGN §11): free the controllers the cgroup2
    # mount of a hybrid host holds, or crun refuses to run.
    if cgroups.check_crun_usable() is not None:
        cgroups.fix_hybrid()
    assert cgroups.check_crun_usable() is None


@pytest.fixture(params=["crun", "runc"])
def runtime_config(request: pytest.FixtureRequest) -> RuntimeConfig:
    name = request.param
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed")
    if name == "crun":
        request.getfixturevalue("crun_ready")
    return RuntimeConfig(name=name, path=path)


@pytest.fixture(scope="session")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    (root / "bin").mkdir(parents=True)
    for d in ("proc", "sys", "dev", "etc", "tmp"):
        (root / d).mkdir()
    shutil.copy2("/usr/bin/busybox", root / "bin" / "busybox")
    for applet in APPLETS:
        os.symlink("busybox", root / "bin" / applet)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "notexec").write_text("plain file\n")
    return root


def _pids_mentioning(marker: str) -> list[int]:
    return mentioning(marker)


@dataclass
class Harness:
    driver: ConmonRuntime
    runtime: RuntimeConfig
    exec_root: Path
    work: Path
    rootfs: Path
    facts: HostFacts
    cgroup_parent: str
    cids: list[str] = field(default_factory=list)

    def new_cid(self) -> str:
        cid = secrets.token_hex(32)
        self.cids.append(cid)
        return cid

    async def running(
        self, args: tuple[str, ...] = ("sleep", "100"), *, stdin: bool = False
    ) -> str:
        """A started container running `args` (no terminal; stdin when asked)."""
        cid = self.new_cid()
        bundle = self.bundle(cid, args)
        await self.driver.create(
            CreateRequest(
                cid=cid,
                name=f"t-{cid[:6]}",
                bundle=bundle,
                runtime=self.runtime,
                log_path=bundle / "ctr.log",
                tty=False,
                stdin=stdin,
                stdin_once=False,
            )
        )
        await self.driver.start(cid, self.runtime)
        return cid

    def bundle(
        self,
        cid: str,
        args: tuple[str, ...],
        *,
        terminal: bool = False,
        init_path: str | None = None,
        oom_score_adj: int | None = None,
    ) -> Path:
        spec = ContainerSpec(
            cid=cid,
            rootfs=self.rootfs,
            readonly_rootfs=True,
            hostname=cid[:12],
            process=ProcessSpec(
                args=args,
                env=("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",),
                terminal=terminal,
            ),
            cgroups_path=f"{self.cgroup_parent}/{cid}",
            init_path=init_path,
            oom_score_adj=oom_score_adj,
        )
        import json

        bundle = self.work / cid[:12]
        bundle.mkdir()
        (bundle / "config.json").write_text(json.dumps(build_config(spec, self.facts)))
        return bundle


@pytest.fixture
def harness(
    runtime_config: RuntimeConfig, rootfs: Path, host_facts: HostFacts, tmp_path: Path
) -> Iterator[Harness]:
    exec_root = Path(f"/tmp/pt-{secrets.token_hex(2)}")
    exec_root.mkdir()
    h = Harness(
        driver=ConmonRuntime(exec_root=exec_root),
        runtime=runtime_config,
        exec_root=exec_root,
        work=tmp_path,
        rootfs=rootfs,
        facts=host_facts,
        cgroup_parent=f"/pier-test-{secrets.token_hex(4)}",
    )
    try:
        yield h
    finally:
        import asyncio

        problems: list[str] = []
        for cid in h.cids:
            try:
                asyncio.run(h.driver.delete(cid, h.runtime, force=True))
            except Exception as exc:  # report, keep cleaning
                problems.append(f"delete {cid[:12]}: {exc}")
        deadline = time.monotonic() + 5
        leftovers: list[int] = []
        while time.monotonic() < deadline:
            leftovers = [p for cid in h.cids for p in _pids_mentioning(cid)]
            if not leftovers:
                break
            time.sleep(0.05)
        if leftovers:
            problems.append(f"processes left: {leftovers}")
            for pid in leftovers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
        for cid in h.cids:
            if (exec_root / "runtime" / h.runtime.name / cid).exists():
                problems.append(f"runtime state left for {cid[:12]}")
            if (exec_root / "conmon" / cid).exists():
                problems.append(f"driver dir left for {cid[:12]}")
        children = cgroups.list_children(h.cgroup_parent)
        if children:
            problems.append(f"cgroups left: {children}")
        try:
            for child in children:
                cgroups.remove(f"{h.cgroup_parent}/{child}")
            cgroups.remove(h.cgroup_parent)
        except Exception as exc:
            problems.append(str(exc))
        mounts = Path("/proc/self/mountinfo").read_text()
        if str(exec_root) in mounts or str(tmp_path) in mounts:
            problems.append("mounts left")
        shutil.rmtree(exec_root, ignore_errors=True)
        assert not problems, problems
