"""Test images made on this machine: busybox from busybox-static, an iperf3 image, and a
~200 MB multi-layer Debian image from debootstrap, served by a loopback registry."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterable
from pathlib import Path

from .cleanup import Cleanup, kill_mentioning
from .engines import Engine, Unavailable
from .proc import CommandFailed, run

BUSYBOX = "/usr/bin/busybox"
BUSYBOX_REF = "busybox:latest"
IPERF_REF = "bench-iperf:latest"

_PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
_GROUP = "root:x:0:\nnogroup:x:65534:\n"


def _add_dir(tar: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    tar.addfile(info, io.BytesIO(data))


def _busybox_applets() -> list[str]:
    out = subprocess.run([BUSYBOX, "--list-full"], capture_output=True, check=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def write_busybox_rootfs(tar: tarfile.TarFile, extra_files: Iterable[Path] = ()) -> None:
    """busybox and its applet links, a passwd/group, /tmp; plus host files at their paths."""
    dirs = {"bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "tmp", "root", "proc", "sys", "dev"}
    extras = list(extra_files)
    for path in extras:
        parent = path.parent
        while str(parent) not in ("/", "."):
            dirs.add(str(parent).lstrip("/"))
            parent = parent.parent
    for name in sorted(dirs):
        _add_dir(tar, name, 0o1777 if name == "tmp" else 0o755)
    tar.add(BUSYBOX, arcname="bin/busybox")
    for applet in _busybox_applets():
        if applet == "bin/busybox":
            continue
        info = tarfile.TarInfo(applet)
        info.type = tarfile.SYMTYPE
        info.linkname = "/bin/busybox"
        tar.addfile(info)
    _add_bytes(tar, "etc/passwd", _PASSWD.encode())
    _add_bytes(tar, "etc/group", _GROUP.encode())
    for path in extras:
        tar.add(str(path.resolve()), arcname=str(path).lstrip("/"))


def busybox_tar(workdir: Path) -> Path:
    path = workdir / "busybox.tar"
    if not path.exists():
        with tarfile.open(path, "w") as tar:
            write_busybox_rootfs(tar)
    return path


def _shared_libraries(binary: str) -> list[Path]:
    out = subprocess.run(["ldd", binary], capture_output=True, check=True, text=True).stdout
    libs: list[Path] = []
    for line in out.splitlines():
        for token in line.split():
            if token.startswith("/"):
                libs.append(Path(token))
    return libs


def iperf_tar(workdir: Path) -> Path:
    """busybox plus iperf3 and the shared libraries it loads, at their host paths."""
    path = workdir / "iperf.tar"
    iperf = shutil.which("iperf3")
    if iperf is None:
        raise Unavailable("iperf3 is not installed")
    if not path.exists():
        files = [Path(iperf), *_shared_libraries(iperf)]
        with tarfile.open(path, "w") as tar:
            write_busybox_rootfs(tar, files)
    return path


def import_image(engine: Engine, tar: Path, ref: str) -> None:
    """`docker import` through the engine's API, so every engine gets the same bytes."""
    try:
        engine.docker("import", "--change", 'CMD ["sh"]', str(tar), ref, timeout=600)
    except CommandFailed as exc:
        raise Unavailable(f"import failed: {exc}") from exc


# -- the loopback registry -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Registry:
    """Debian's docker-registry (distribution 2.x) on 127.0.0.1 only, storage on disk."""

    def __init__(self, *, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def storage(self) -> Path:
        return self.root / "storage"

    def start(self, cleanup: Cleanup) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            raise Unavailable("docker-registry is not installed")
        self.storage.mkdir(parents=True, exist_ok=True)
        config = self.root / "config.yml"
        # No blob descriptor cache: wiping storage between pushes must really empty it.
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.storage}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.address}\n"
        )
        log = open(self.root / "registry.log", "wb")  # noqa: SIM115 - closed by cleanup
        cleanup.push("close registry log", log.close)
        self.process = subprocess.Popen(
            [binary, "serve", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        cleanup.push("stop registry", self.stop)
        cleanup.push("kill registry leftovers", lambda: kill_mentioning(str(self.root)))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise Unavailable(f"docker-registry exited {self.process.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise Unavailable("docker-registry did not listen in 30 s")

    def wipe(self) -> None:
        shutil.rmtree(self.storage / "docker", ignore_errors=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def layer_blobs(self, repo: str, tag: str) -> list[Path]:
        """The layer blobs (compressed) of repo:tag, read from the registry's own storage."""
        import json

        manifest_link = (
            self.storage
            / "docker/registry/v2/repositories"
            / repo
            / "_manifests/tags"
            / tag
            / "current/link"
        )
        digest = manifest_link.read_text().strip()
        manifest = json.loads(self._blob(digest).read_bytes())
        return [self._blob(layer["digest"]) for layer in manifest["layers"]]

    def _blob(self, digest: str) -> Path:
        algo, hexdigest = digest.split(":", 1)
        return self.storage / "docker/registry/v2/blobs" / algo / hexdigest[:2] / hexdigest / "data"


# -- the multi-layer image -----------------------------------------------------------

BIG_REPO = "bench/debian"
CACHE_DIR = Path(os.environ.get("PIER_BENCH_CACHE", "/var/cache/pier-bench"))


def debootstrap_tar(mirror: str) -> Path:
    """A minbase bookworm rootfs, made once and cached: re-runs skip the download."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tar = CACHE_DIR / "bookworm-minbase.tar"
    if tar.exists():
        return tar
    target = CACHE_DIR / "bookworm-minbase.tmp"
    shutil.rmtree(target, ignore_errors=True)
    try:
        run(["debootstrap", "--variant=minbase", "bookworm", str(target), mirror], timeout=1800)
        partial = tar.with_suffix(".partial")
        run(["tar", "-C", str(target), "--numeric-owner", "-cf", str(partial), "."], timeout=600)
        partial.rename(tar)
    except CommandFailed as exc:
        raise Unavailable(f"debootstrap failed: {exc}") from exc
    finally:
        # debootstrap mounts /proc and /sys inside the target while it works.
        for sub in ("proc", "sys", "dev/pts", "dev"):
            subprocess.run(["umount", "-l", str(target / sub)], capture_output=True, check=False)
        shutil.rmtree(target, ignore_errors=True)
    return tar


_BIG_V1 = """FROM bench-base:latest
RUN head -c 16777216 /dev/urandom > /opt/blob-1.bin
RUN cp -a /usr/share/doc /opt/doc-copy && cp -a /usr/share/perl5 /opt/perl5-copy
RUN head -c 8388608 /dev/urandom > /opt/blob-2.bin
RUN mkdir -p /opt/many && cd /opt/many \\
    && for i in $(seq 1 400); do head -c 8192 /dev/urandom > f$i; done
CMD ["sh"]
"""

_BIG_V2 = """FROM {v1}
RUN head -c 8388608 /dev/urandom > /opt/blob-3.bin
RUN echo v2 > /opt/version
"""


def build_big_images(
    builder: Engine, registry: Registry, workdir: Path, mirror: str
) -> dict[str, str]:
    """Make v1 (base + 4 layers) and v2 (v1 + 2 new top layers) with `builder` and push
    both; returns the references each engine pulls."""
    base = debootstrap_tar(mirror)
    v1 = f"{registry.address}/{BIG_REPO}:1"
    v2 = f"{registry.address}/{BIG_REPO}:2"
    try:
        builder.docker("import", str(base), "bench-base:latest", timeout=900)
        for ref, text in ((v1, _BIG_V1), (v2, _BIG_V2.format(v1=v1))):
            ctx = workdir / f"big-{ref.rsplit(':', 1)[1]}"
            ctx.mkdir(parents=True, exist_ok=True)
            (ctx / "Dockerfile").write_text(text)
            builder.docker("build", "-q", "-t", ref, str(ctx), timeout=1800, DOCKER_BUILDKIT="0")
            builder.docker("push", ref, timeout=1800)
        size = builder.docker("image", "inspect", "-f", "{{.Size}}", v1).stdout.strip()
        for ref in (v1, v2, "bench-base:latest"):
            builder.docker("rmi", "-f", ref, timeout=300)
        builder.docker("image", "prune", "-f", timeout=300)
    except CommandFailed as exc:
        raise Unavailable(f"could not make the multi-layer image: {exc}") from exc
    status, _ = http_get_tcp(registry.address, f"/v2/{BIG_REPO}/tags/list")
    if status != 200:
        raise Unavailable(f"registry does not list {BIG_REPO} ({status})")
    layers = registry.layer_blobs(BIG_REPO, "1")
    packed = sum(p.stat().st_size for p in layers)
    info = (
        f"v1: {len(layers)} layers, {packed / 1e6:.0f} MB compressed, "
        f"{int(size) / 1e6:.0f} MB unpacked; v2 adds 2 layers"
    )
    return {"v1": v1, "v2": v2, "info": info}


def http_get_tcp(address: str, path: str) -> tuple[int, bytes]:
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            f"GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n".encode()
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    parts = data.split(b"\r\n", 1)[0].split()
    return (int(parts[1]) if len(parts) > 1 else 0), data.partition(b"\r\n\r\n")[2]
