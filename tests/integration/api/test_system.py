"""/_ping, /version, /info and the API's version handling, against a real pierd."""

from __future__ import annotations

import pytest

from pier.client.api import Client
from pier_testing.daemon import PierDaemon


def test_ping_headers(pier: PierDaemon) -> None:
    for method in ("GET", "HEAD"):
        resp = pier.client.open(method, "/_ping")
        body = resp.read()
        resp.close()
        assert resp.status == 200
        assert body == (b"OK" if method == "GET" else b"")
        headers = {k.lower(): v for k, v in resp.headers.items()}
        assert headers["api-version"] == "1.47"
        assert headers["ostype"] == "linux"
        assert headers["server"].startswith("Pier/")
        assert headers["builder-version"] == "1"
        assert headers["cache-control"] == "no-cache, no-store, must-revalidate"


@pytest.mark.parametrize(
    "version", ["", "1.24", "1.41", "1.47"], ids=["unversioned", "min", "1.41", "max"]
)
def test_version_on_every_supported_path(pier: PierDaemon, version: str) -> None:
    client = Client(str(pier.socket), version=version)
    body = client.get_json("/version")
    assert body["ApiVersion"] == "1.47"
    assert body["MinAPIVersion"] == "1.24"
    assert body["Os"] == "linux"
    assert body["Components"][0]["Name"] == "Engine"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        ("1.50", "client version 1.50 is too new. Maximum supported API version is 1.47"),
        (
            "1.12",
            "client version 1.12 is too old. Minimum supported API version is 1.24, "
            "please upgrade your client to a newer version",
        ),
    ],
    ids=["too-new", "too-old"],
)
def test_version_out_of_range(pier: PierDaemon, version: str, message: str) -> None:
    resp = Client(str(pier.socket), version=version).open("GET", "/version")
    body = resp.read().decode()
    resp.close()
    assert resp.status == 400
    assert message in body


def test_unknown_path_is_404(pier: PierDaemon) -> None:
    resp = pier.client.open("GET", "/no/such/endpoint")
    body = resp.read()
    resp.close()
    assert resp.status == 404
    assert b"page not found" in body


def test_info_counts(pier: PierDaemon) -> None:
    info = pier.client.get_json("/info")
    assert info["Images"] >= 1
    assert info["Containers"] == 0
    assert info["LiveRestoreEnabled"] is True
    assert set(info["Runtimes"]) >= {"crun", "runc"}
    assert info["DefaultRuntime"] == "crun"
