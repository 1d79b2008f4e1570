"""`run/create --use-api-socket`, as the docker CLI does it: the daemon's UNIX socket
bind-mounted at /var/run/docker.sock and, unless the container names its own
DOCKER_CONFIG, the client's registry credentials written into the created container as
/run/secrets/docker/config.json with DOCKER_CONFIG pointing there."""

from __future__ import annotations

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pier.client.api import Client

_CONFIG_IN_CONTAINER = "/run/secrets/docker/config.json"


def _all_credentials() -> dict[str, dict[str, str]]:
    """GetAllCredentials: every server the config file, its helpers or its store know."""
    import json
    import os

    from pier.cli import dockerconfig

    inline = os.environ.get("DOCKER_AUTH_CONFIG")
    if inline:
        try:
            auths = json.loads(inline).get("auths") or {}
        except (ValueError, AttributeError) as exc:
            raise ValueError(f"failed to read credentials from DOCKER_AUTH_CONFIG: {exc}") from None
        if auths:
            return {k: v for k, v in auths.items() if isinstance(v, dict)}
    data = dockerconfig.load()
    servers: set[str] = set()
    for section in ("auths", "credHelpers"):
        entries = data.get(section)
        if isinstance(entries, dict):
            servers.update(entries)
    store = data.get("credsStore")
    if isinstance(store, str) and store:
        try:
            listed = json.loads(dockerconfig._run_helper(store, "list", "") or "{}")
        except (ValueError, dockerconfig.CredentialsError) as exc:
            raise ValueError(f"resolving credentials failed: {exc}") from None
        servers.update(listed)
    out = {}
    for server in sorted(servers):
        try:
            found = dockerconfig.get(server)
        except dockerconfig.CredentialsError as exc:
            raise ValueError(f"resolving credentials failed: {exc}") from None
        if found:
            out[server] = found
    return out


def prepare(host: str, body: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Add the socket's mount (and DOCKER_CONFIG) to a create body; returns the
    credentials to write after create. ValueError with the docker CLI's words."""
    if not host.startswith("unix://"):
        raise ValueError("flag --use-api-socket can only be used with unix sockets: docker "
                         f"endpoint {host} incompatible")  # fmt: skip
    hc = body["HostConfig"]
    hc["Mounts"] = [*(hc.get("Mounts") or []), {"Type": "bind", "Source": host[len("unix://"):],
                    "Target": "/var/run/docker.sock", "BindOptions": {}}]  # fmt: skip
    env = body.get("Env") or []
    if any(e.startswith("DOCKER_CONFIG=") for e in env):
        return {}
    creds = _all_credentials()
    if creds:
        body["Env"] = [*env, "DOCKER_CONFIG=/run/secrets/docker"]
    return creds


def inject(client: Client, container_id: str, creds: dict[str, dict[str, str]]) -> None:
    """The config file of those credentials, put into the container (mode 0600)."""
    import base64
    import io
    import json
    import tarfile

    auths = {}
    for server, found in creds.items():
        # As configfile.SaveToWriter: user and password as `auth`, no server address.
        drop = ("username", "password", "serveraddress")
        entry = {k: v for k, v in found.items() if k not in drop}
        if found.get("username") or found.get("password"):
            pair = f"{found.get('username', '')}:{found.get('password', '')}"
            entry["auth"] = base64.b64encode(pair.encode()).decode()
        auths[server] = entry
    data = json.dumps({"auths": auths}, indent="\t").encode()
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(_CONFIG_IN_CONTAINER.lstrip("/"))
        info.size, info.mode = len(data), 0o600
        tar.addfile(info, io.BytesIO(data))
    headers = {"Content-Type": "application/x-tar"}
    client.request("PUT", f"/containers/{container_id}/archive", params={"path": "/"},
                   body=buf.getvalue(), headers=headers).close()  # fmt: skip
