"""Checks of single `run`/`create` flag values as the docker CLI's validators (its opts
package) make them: ValueError with their words, shown as an invalid flag argument."""

from __future__ import annotations


def check_label(value: str) -> str:
    """opts.ValidateLabel."""
    key = value.partition("=")[0].lstrip(" \t\n\v\f\r")
    if not key:
        raise ValueError(f"invalid label '{value}': empty name")
    if any(c in key for c in " \t\n\v\f\r"):
        raise ValueError(f"label '{key}' contains whitespaces")
    return value


def check_env(value: str) -> str:
    """opts.ValidateEnv."""
    if not value.partition("=")[0]:
        raise ValueError("invalid environment variable: " + value)
    return value


def extra_host(value: str) -> str:
    """opts.ValidateExtraHost: `host=ip` or `host:ip` (ip maybe in brackets), sent as
    `host:ip`, which is what the daemon reads."""
    import ipaddress

    key, sep, addr = value.partition("=")
    if not sep:
        key, sep, addr = value.partition(":")
    if not sep or not key or ":" in key:
        raise ValueError(f'bad format for add-host: "{value}"')
    if addr != "host-gateway":
        if len(addr) > 2 and addr[0] == "[" and addr[-1] == "]":
            addr = addr[1:-1]
        try:
            ipaddress.ip_address(addr.strip())
        except ValueError:
            raise ValueError(f'invalid IP address in add-host: "{addr}"') from None
    return f"{key}:{addr}"
