"""`docker import` / `pier import` from a URL: an HTTP server on 127.0.0.1 written for
the test serves the archive (and a 404)."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import docker as docker_sdk
import pytest

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon


def _archive() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        data = b"served over http\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def server() -> Iterator[str]:
    body = _archive()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/rootfs.tar":
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(404)
                self.send_header("Content-Length", "9")
                self.end_headers()
                self.wfile.write(b"not here\n")

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever)
    thread.start()
    try:
        yield f"127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        thread.join()
        httpd.server_close()


def test_docker_import_from_a_url(docker, server: str) -> None:
    url = f"http://{server}/rootfs.tar"
    out = docker.ok("import", "-c", 'CMD ["cat", "/hello.txt"]', url, "fromurl:1")
    image_id = out.strip().splitlines()[-1]
    assert image_id.startswith("sha256:")
    info = json.loads(docker.ok("image", "inspect", "fromurl:1"))[0]
    assert info["Id"] == image_id
    assert info["Comment"] == f"Imported from {url}"
    assert info["Config"]["Cmd"] == ["cat", "/hello.txt"]
    cid = docker.ok("create", "fromurl:1").strip()
    exported = docker.raw("export", cid)
    with tarfile.open(fileobj=io.BytesIO(exported.stdout)) as tar:
        member = tar.extractfile("hello.txt")
        assert member is not None and member.read() == b"served over http\n"
    docker.ok("rm", cid)
    docker.ok("rmi", "fromurl:1")


def test_pier_import_from_a_url(pier: PierDaemon, server: str) -> None:
    out = subprocess.run(
        [str(PIER), "-H", pier.host, "import", "-m", "by pier", f"http://{server}/rootfs.tar",
         "pierurl"],
        env=pier.env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1].startswith("sha256:")
    client = docker_sdk.DockerClient(base_url=pier.host)
    try:
        assert client.images.get("pierurl").attrs["Comment"] == "by pier"
        client.images.remove("pierurl")
        # an address without a scheme is taken as http:// (moby's router)
        client.api.import_image_from_url(f"{server}/rootfs.tar", repository="noscheme")
        got = client.images.get("noscheme")
        assert got.attrs["Comment"] == f"Imported from {server}/rootfs.tar"
        client.images.remove("noscheme")
    finally:
        client.close()


def test_import_from_a_missing_url_is_dockerds_error(docker, server: str) -> None:
    url = f"http://{server}/missing.tar"
    out = docker("import", url, "never")
    assert out.returncode == 1
    assert out.stderr == (
        f"Error response from daemon: failed to GET {url} with status 404 Not Found: not here\n"
    )
    assert docker("image", "inspect", "never").returncode == 1
