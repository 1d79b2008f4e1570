"""Legacy links' environment (moby's daemon/links ToEnv) and /etc/hosts names."""

from __future__ import annotations

import pytest

from pier.errors import InvalidParameter
from pier.networking.links import LinkTarget, hosts_names, link_env, parse_link


def _target(**kw: object) -> LinkTarget:
    base: dict[str, object] = dict(
        container_id="c" * 64, name="db", alias="db", link_name="/web/db", hostname="h"
    )
    base.update(kw)
    return LinkTarget(**base)  # type: ignore[arg-type]


def test_tcp_ports_come_first_and_a_run_of_ports_gets_start_and_end() -> None:
    env = link_env(
        _target(alias="my-db", exposed_ports=("53/udp", "81/tcp", "80/tcp", "54/udp")),
        "10.0.0.2",
    )
    assert env[0] == "MY_DB_PORT=tcp://10.0.0.2:80"  # the lowest TCP port
    ranges = [e for e in env if "_START=" in e or "_END=" in e]
    assert ranges == [
        "MY_DB_PORT_80_TCP_START=tcp://10.0.0.2:80",
        "MY_DB_PORT_80_TCP_PORT_START=80",
        "MY_DB_PORT_80_TCP_END=tcp://10.0.0.2:81",
        "MY_DB_PORT_80_TCP_PORT_END=81",
        "MY_DB_PORT_53_UDP_START=udp://10.0.0.2:53",
        "MY_DB_PORT_53_UDP_PORT_START=53",
        "MY_DB_PORT_53_UDP_END=udp://10.0.0.2:54",
        "MY_DB_PORT_53_UDP_PORT_END=54",
    ]
    assert env[-1] == "MY_DB_NAME=/web/db"


def test_the_targets_variables_but_home_and_path() -> None:
    env = link_env(_target(env=("PATH=/bin", "HOME=/root", "A=b=c", "BARE")), "10.0.0.2")
    assert env == ("DB_NAME=/web/db", "DB_ENV_A=b=c")


def test_hosts_names_and_parsing() -> None:
    assert hosts_names(_target()) == "db h"  # the alias is the name: not twice
    assert hosts_names(_target(alias="x")) == "x h db"
    assert parse_link("/db:alias") == ("db", "alias")
    assert parse_link("db") == ("db", "db")
    assert parse_link("db:/web/alias") == ("db", "alias")
    with pytest.raises(InvalidParameter):
        parse_link("a:b:c")


def test_exposed_ports_that_are_not_numbers_are_variables_too() -> None:
    # The API takes any ExposedPorts key (moby checks only port bindings); moby's
    # Port.Int makes such a port 0, and its variables are made of the text.
    env = link_env(_target(exposed_ports=("abc/tcp", "99999/tcp", "²/udp")), "10.0.0.2")
    assert "DB_PORT_abc_TCP=tcp://10.0.0.2:abc" in env
    assert "DB_PORT_99999_TCP_PORT=99999" in env
    assert "DB_PORT_²_UDP_PROTO=udp" in env
    assert not [e for e in env if "_START=" in e]
