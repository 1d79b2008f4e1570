"""Registry authentication through pierd: distribution 2.8 with htpasswd (basic) and with
a token server (bearer: Docker's GET flow with credentials, the OAuth2 POST flow with an
identity token, the token cache), `POST /auth`, and `pier login`/`logout` keeping the
docker CLI's config.json."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry
from pier_testing.tokenserver import TokenServer
from pier_testing.transfer import (
    api_error,
    auth_header,
    errors,
    pull,
    push,
    random_image,
    statuses,
)

USERS = {"alice": "wonderland"}


@pytest.fixture(scope="module")
def basic_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DistributionRegistry]:
    reg = DistributionRegistry(tmp_path_factory.mktemp("htpasswd"), htpasswd=USERS).start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenServer]:
    server = TokenServer(tmp_path_factory.mktemp("token"), USERS).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def token_registry(
    tmp_path_factory: pytest.TempPathFactory, tokens: TokenServer
) -> Iterator[DistributionRegistry]:
    reg = DistributionRegistry(
        tmp_path_factory.mktemp("bearer"), token=tokens.registry_auth()
    ).start()
    try:
        yield reg
    finally:
        reg.stop()


def _login(pier: PierDaemon, server: str, username: str, password: str) -> dict[str, str]:
    body = {"username": username, "password": password, "serveraddress": server}
    return dict(pier.client.post_json("/auth", body))


def test_basic_auth_login_push_and_pull(
    pier: PierDaemon, basic_registry: DistributionRegistry, work: Path
) -> None:
    server = basic_registry.address
    bad = api_error(_login, pier, server, "alice", "wrong")
    assert bad.status == 401
    assert str(bad) == f"login attempt to http://{server}/v2/ failed with status: 401 Unauthorized"
    assert _login(pier, server, "alice", "wonderland") == {
        "IdentityToken": "",
        "Status": "Login Succeeded",
    }
    repo = f"{server}/private/img"
    random_image(pier.client, work, repo, 50_000)
    creds = auth_header("alice", "wonderland", serveraddress=server)
    # Push output starts before the registry is asked: the failure ends the stream.
    assert errors(push(pier.client, repo)) == ["no basic auth credentials"]
    assert statuses(push(pier.client, repo, auth=creds))[-1].startswith("latest: digest:")
    pier.client.delete(f"/images/{repo}:latest")
    assert "no basic auth credentials" in str(api_error(pull, pier.client, repo))
    assert statuses(pull(pier.client, repo, auth=creds))[-1].startswith("Status: Downloaded")


def test_bearer_token_flows_and_cache(
    pier: PierDaemon, token_registry: DistributionRegistry, tokens: TokenServer, work: Path
) -> None:
    server = token_registry.address
    repo = f"{server}/bearer/img"
    random_image(pier.client, work, repo, 50_000)

    # Anonymous: the token server grants nothing, the registry denies.
    denied = api_error(pull, pier.client, repo)
    assert denied.status == 404
    assert str(denied).startswith(
        f"pull access denied for {repo}, repository does not exist or may require 'docker login'"
    )

    # Login: Docker's GET with offline_token gives a refresh token = IdentityToken.
    answer = _login(pier, server, "alice", "wonderland")
    assert answer["Status"] == "Login Succeeded"
    identity = answer["IdentityToken"]
    assert identity in tokens.refresh_tokens
    assert api_error(_login, pier, server, "alice", "nope").status == 401

    # Push with username/password: GET flow.
    before = len(tokens.requests)
    creds = auth_header("alice", "wonderland", serveraddress=server)
    assert statuses(push(pier.client, repo, auth=creds))[-1].startswith("latest: digest:")
    assert ("GET", "get") in tokens.requests[before:]
    # The same credentials again: the cached token serves the second push.
    before = len(tokens.requests)
    push(pier.client, repo, auth=creds)
    assert tokens.requests[before:] == []

    # Pull with the identity token only: the OAuth2 refresh_token POST flow.
    pier.client.delete(f"/images/{repo}:latest")
    before = len(tokens.requests)
    by_identity = auth_header(identitytoken=identity, serveraddress=server)
    assert statuses(pull(pier.client, repo, auth=by_identity))[-1].startswith("Status: Downloaded")
    assert ("POST", "refresh_token") in tokens.requests[before:]


def test_pier_login_logout_keep_docker_config(
    pier: PierDaemon, basic_registry: DistributionRegistry, work: Path
) -> None:
    env = pier.env()
    env["DOCKER_CONFIG"] = str(work / "cfg")
    server = basic_registry.address
    done = subprocess.run(
        [str(PIER), "login", "-u", "alice", "--password-stdin", server],
        input="wonderland\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Login Succeeded\n"
    config = json.loads((work / "cfg" / "config.json").read_text())
    assert config["auths"][server] == {"auth": "YWxpY2U6d29uZGVybGFuZA=="}

    # The docker CLI reads the same file and sends the credentials with its push.
    repo = f"{server}/cli/img"
    random_image(pier.client, work, repo, 20_000)
    pushed = subprocess.run(
        ["docker", "push", repo], env=env, capture_output=True, text=True, timeout=120
    )
    assert pushed.returncode == 0, pushed.stderr
    pier_push = subprocess.run([str(PIER), "push", repo], env=env, capture_output=True, text=True)
    assert pier_push.returncode == 0, pier_push.stderr
    assert ": Layer already exists" in pier_push.stdout

    wrong = subprocess.run(
        [str(PIER), "login", "-u", "alice", "--password-stdin", server],
        input="bad\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert wrong.returncode == 1
    assert "401 Unauthorized" in wrong.stderr

    out = subprocess.run([str(PIER), "logout", server], env=env, capture_output=True, text=True)
    assert out.stdout == f"Removing login credentials for {server}\n"
    assert server not in json.loads((work / "cfg" / "config.json").read_text())["auths"]
