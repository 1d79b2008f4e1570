"""The API fuzzed with schemathesis against moby's v1.47 contract (issue 16): requests
made from every operation's parameters and bodies, valid and not, sent to a real
pierd over its UNIX socket; no answer may be a 5xx and pierd may not die.

Left out, each for a reason:
- operations that reach outside loopback: pulls and imports from URLs, push, login,
  search, distribution, plugin installs, builds (their `remote` is a URL);
- network creation (a random subnet would route host traffic into a bridge);
- swarm, services, tasks, nodes, secrets and configs: dockerd's own answer on a node
  outside a swarm is a 503, and `swarm init/join` would start or dial cluster peers;
- what hijacks or streams without end (attach, exec start, session, events).

Bounded: 12 examples per operation (under a minute here); PIER_FUZZ_EXAMPLES=200
for a longer hunt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from docker.transport import UnixHTTPAdapter
from hypothesis import HealthCheck, Phase, settings

from pier_testing.daemon import PierDaemon

RAW = json.loads((Path(__file__).parent / "v1.47.swagger.json").read_text())
OUTSIDE = (
    r"^/images/create$|^/images/[^/]+/push$|^/auth$|^/images/search$|^/distribution/"
    r"|^/plugins/(pull|privileges)$|^/plugins/[^/]+/(upgrade|push)$|^/build$"
    r"|^/networks/create$"
    r"|^/(swarm|services|tasks|nodes|secrets|configs)(/|$)"
    r"|/attach(/ws)?$|^/exec/[^/]+/start$|^/session$|^/events$"
)
# PUT /volumes/{name} updates a cluster volume: swarm only (dockerd: 503 outside one).
schema = (
    schemathesis.openapi.from_dict(RAW)
    .exclude(path_regex=OUTSIDE)
    .exclude(method="PUT", path="/volumes/{name}")
)


@schemathesis.serializer("application/x-tar", "application/octet-stream")
def _as_bytes(ctx: object, value: object) -> bytes:
    """Archive bodies (cp, load, import) as the bytes generated: rarely a tar."""
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "surrogatepass")


@pytest.fixture(scope="module")
def session(pierd: PierDaemon) -> Iterator[requests.Session]:
    http = requests.Session()
    http.trust_env = False  # loopback only: no proxy from the environment
    # Every request to http://pier goes down pierd's socket.
    http.mount("http://pier/", UnixHTTPAdapter(f"http+unix://{pierd.socket}", timeout=60))
    yield http
    http.close()


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("PIER_FUZZ_EXAMPLES", "12")),
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_no_server_errors(
    case: schemathesis.Case, pier: PierDaemon, session: requests.Session
) -> None:
    response = case.call(base_url="http://pier/v1.47", session=session, timeout=60)
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: "
        f"{response.text[:500]}\n{case.as_curl_command()}"
    )
    assert pier.proc is not None and pier.proc.poll() is None, "pierd died"
