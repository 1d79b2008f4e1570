"""Credentials in the docker CLI's `config.json` (`$DOCKER_CONFIG/config.json`, else
`~/.docker/config.json`), so `pier login` and `docker login` share them.

`auths` holds `{"auth": base64(user:password)}` (or an `identitytoken`) per server;
`credsStore` names a helper program `docker-credential-<name>` for every server and
`credHelpers` one per server, spoken to as the docker CLI does: `get` (server on stdin,
JSON out), `store` (JSON in), `erase` (server on stdin). Docker Hub's key is
`https://index.docker.io/v1/`.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess

INDEX_SERVER = "https://index.docker.io/v1/"
_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io", INDEX_SERVER)


class CredentialsError(Exception):
    """A helper failed or the file cannot be read: the CLI prints it and exits 1."""


def config_path() -> str:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return os.path.join(base, "config.json")


def server_key(server: str) -> str:
    """The key docker uses for `server` (its hostname, or Hub's index URL)."""
    server = server.strip()
    if not server or server in _HUB_NAMES:
        return INDEX_SERVER
    for prefix in ("https://", "http://"):
        if server.startswith(prefix):
            server = server[len(prefix) :]
    return server.split("/", 1)[0]


def registry_of(image: str) -> str:
    """The credentials key for an image reference (`localhost:5000/x` -> `localhost:5000`)."""
    first, sep, _ = image.partition("/")
    if sep and (first == "localhost" or "." in first or ":" in first):
        return first
    return INDEX_SERVER


def load() -> dict[str, object]:
    try:
        with open(config_path()) as f:
            data = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CredentialsError(f"loading config file {config_path()}: {exc}") from exc
    return data if isinstance(data, dict) else {}


def save(data: dict[str, object]) -> None:
    path = config_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent="\t")
        f.write("\n")
    os.replace(tmp, path)


def _helper(data: dict[str, object], key: str) -> str:
    helpers = data.get("credHelpers")
    if isinstance(helpers, dict) and isinstance(helpers.get(key), str):
        return str(helpers[key])
    store = data.get("credsStore")
    return store if isinstance(store, str) else ""


def _run_helper(helper: str, action: str, payload: str) -> str:
    program = f"docker-credential-{helper}"
    try:
        proc = subprocess.run(
            [program, action], input=payload, capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        raise CredentialsError(
            f'error getting credentials - err: exec: "{program}": executable file not found '
            "in $PATH, out: ``"
        ) from None
    if proc.returncode != 0:
        out = (proc.stdout or proc.stderr).strip()
        if action == "get" and "credentials not found" in out:
            return ""
        raise CredentialsError(f"error {action}ting credentials - err: exit status "
                               f"{proc.returncode}, out: `{out}`")  # fmt: skip
    return proc.stdout


def get(server: str) -> dict[str, str]:
    """Docker's AuthConfig for `server` (empty when none is stored)."""
    data = load()
    key = server_key(server)
    helper = _helper(data, key)
    if helper:
        out = _run_helper(helper, "get", key)
        if not out.strip():
            return {}
        creds = json.loads(out)
        user, secret = str(creds.get("Username", "")), str(creds.get("Secret", ""))
        if user == "<token>":
            return {"identitytoken": secret, "serveraddress": key}
        return {"username": user, "password": secret, "serveraddress": key}
    auths = data.get("auths")
    entry = auths.get(key) if isinstance(auths, dict) else None
    if not isinstance(entry, dict):
        return {}
    found: dict[str, str] = {"serveraddress": key}
    if entry.get("auth"):
        decoded = base64.b64decode(str(entry["auth"])).decode()
        found["username"], _, found["password"] = decoded.partition(":")
    if entry.get("identitytoken"):
        found["identitytoken"] = str(entry["identitytoken"])
    return found


def store(server: str, username: str, password: str, identity_token: str = "") -> None:
    data = load()
    key = server_key(server)
    helper = _helper(data, key)
    if helper:
        user, secret = ("<token>", identity_token) if identity_token else (username, password)
        payload = json.dumps({"ServerURL": key, "Username": user, "Secret": secret})
        _run_helper(helper, "store", payload)
        auths = data.setdefault("auths", {})
        if isinstance(auths, dict):
            auths[key] = {}
    else:
        auths = data.setdefault("auths", {})
        if not isinstance(auths, dict):
            auths = data["auths"] = {}
        entry: dict[str, str] = {}
        if identity_token:
            entry["identitytoken"] = identity_token
        else:
            entry["auth"] = base64.b64encode(f"{username}:{password}".encode()).decode()
        auths[key] = entry
    save(data)


def erase(server: str) -> bool:
    """Forget `server`'s credentials; False when there were none."""
    data = load()
    key = server_key(server)
    helper = _helper(data, key)
    auths = data.get("auths")
    found = isinstance(auths, dict) and key in auths
    if helper:
        _run_helper(helper, "erase", key)
        found = True
    if isinstance(auths, dict):
        auths.pop(key, None)
    save(data)
    return found


def encode_header(auth: dict[str, str]) -> str:
    """`X-Registry-Auth`: base64url of the AuthConfig JSON (`e30=` for none), as docker."""
    return base64.urlsafe_b64encode(json.dumps(auth).encode()).decode()
