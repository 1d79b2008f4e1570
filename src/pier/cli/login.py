"""`pier login` / `pier logout`: credentials checked by the daemon (`POST /auth`) and
kept in the docker CLI's config.json format (see pier.cli.dockerconfig)."""

from __future__ import annotations

import sys

from pier.cli.flags import BOOL, STRING, Flag, Spec
from pier.cli.main import Context, StatusError

LOGIN = Spec(
    max_args=1,
    flags=(
        Flag(name="username", short="u", kind=STRING, help="Username"),
        Flag(name="password", short="p", kind=STRING,
             help="Password or Personal Access Token (PAT)"),
        Flag(name="password-stdin", kind=BOOL,
             help="Take the Password or Personal Access Token (PAT) from stdin"),
    ),
)  # fmt: skip


def _prompt(text: str, *, secret: bool) -> str:
    if secret:
        import getpass

        return getpass.getpass(text)
    sys.stdout.write(text)
    sys.stdout.flush()
    return sys.stdin.readline().strip()


def login(ctx: Context, argv: list[str]) -> int:
    from pier.cli import dockerconfig
    from pier.client.errors import APIError

    opts = ctx.parse(LOGIN, argv)
    server = opts.args[0] if opts.args else dockerconfig.INDEX_SERVER
    username, password = opts["username"] or "", opts["password"] or ""
    if opts["password-stdin"]:
        if password:
            raise StatusError(1, "--password and --password-stdin are mutually exclusive")
        if not username:
            raise StatusError(1, "Must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        ctx.err("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    if not username:
        username = _prompt("Username: ", secret=False)
    if not password:
        password = _prompt("Password: ", secret=True)
    if not username:
        raise StatusError(1, "Error: Non-null Username Required")
    if not password:
        raise StatusError(1, "Error: Password Required")
    body = {"username": username, "password": password, "serveraddress": server}
    try:
        reply = ctx.client.post_json("/auth", body)
    except APIError as exc:
        raise StatusError(1, f"Error response from daemon: {exc}") from None
    token = str((reply or {}).get("IdentityToken") or "")
    try:
        dockerconfig.store(server, username, password, token)
    except dockerconfig.CredentialsError as exc:
        raise StatusError(1, str(exc)) from None
    if not dockerconfig.load().get("credsStore"):
        ctx.err(
            f"WARNING! Your credentials are stored unencrypted in '{dockerconfig.config_path()}'.\n"
            "Configure a credential helper to remove this warning. See\n"
            "https://docs.docker.com/go/credential-store/\n\n"
        )
    ctx.out(f"{(reply or {}).get('Status') or 'Login Succeeded'}\n")
    return 0


LOGOUT = Spec(max_args=1)


def logout(ctx: Context, argv: list[str]) -> int:
    from pier.cli import dockerconfig

    opts = ctx.parse(LOGOUT, argv)
    server = opts.args[0] if opts.args else dockerconfig.INDEX_SERVER
    key = dockerconfig.server_key(server)
    try:
        found = dockerconfig.erase(server)
    except dockerconfig.CredentialsError as exc:
        raise StatusError(1, str(exc)) from None
    if not found:
        ctx.out(f"Not logged in to {key}\n")
        return 0
    ctx.out(f"Removing login credentials for {key}\n")
    return 0
