"""A base image that is not here is pulled (from a registry on loopback) as the build
reaches its FROM, with the pull's lines in the build's output; --pull pulls a newer
one even when a local image has the name."""

from __future__ import annotations

import base64

from pier_testing.build import build, run_output
from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry

AUTH = {"X-Registry-Auth": base64.urlsafe_b64encode(b"{}").decode()}


def _push(pier: PierDaemon, name: str) -> None:
    resp = pier.client.request("POST", f"/images/{name}/push", headers=AUTH)
    body = resp.read().decode()
    assert '"error"' not in body, body


def test_missing_base_is_pulled(pier: PierDaemon, registry: DistributionRegistry) -> None:
    base = f"{registry.address}/build/base:1"
    build(pier, {"Dockerfile": "FROM busybox\nRUN echo v1 > /version\n"}, t=base).ok()
    _push(pier, base)
    pier.client.delete(f"/images/{base}")
    out = build(pier, {"Dockerfile": f"FROM {base}\nRUN cat /version > /seen\n"}).ok()
    assert f"1: Pulling from {registry.address}/build/base\n" in out.text
    assert run_output(pier, out.image_id, "cat", "/seen") == "v1\n"

    # A newer base in the registry: only --pull fetches it.
    build(pier, {"Dockerfile": "FROM busybox\nRUN echo v2 > /version\n"}, t=base).ok()
    _push(pier, base)
    build(pier, {"Dockerfile": "FROM busybox\nRUN echo stale > /version\n"}, t=base).ok()
    stale = build(pier, {"Dockerfile": f"FROM {base}\nRUN cat /version > /seen\n"}).ok()
    assert run_output(pier, stale.image_id, "cat", "/seen") == "stale\n"
    fresh = build(pier, {"Dockerfile": f"FROM {base}\nRUN cat /version > /seen\n"}, pull=1).ok()
    assert run_output(pier, fresh.image_id, "cat", "/seen") == "v2\n"


def test_unknown_repository_fails_the_build(
    pier: PierDaemon, registry: DistributionRegistry
) -> None:
    out = build(pier, {"Dockerfile": f"FROM {registry.address}/nothing/here:1\n"}, t="x:1")
    assert out.error is not None
    assert "nothing/here" in out.error["error"]
