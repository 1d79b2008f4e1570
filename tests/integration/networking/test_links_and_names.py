"""Legacy links on the default bridge (moby's link environment and /etc/hosts lines),
links on user-defined networks as names only the linking container resolves, DNS
names that follow a rename, and a running container's /etc/hosts following network
connect and disconnect, through the docker CLI against a real pierd."""

from __future__ import annotations

from pier_testing.netcli import Docker


def _env(text: str, prefix: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in text.splitlines() if line.startswith(prefix) and "=" in line
    )


def test_legacy_link_environment_and_hosts_on_the_default_bridge(docker: Docker) -> None:
    docker.ok(
        "run", "-d", "--name", "db", "--hostname", "dbhost", "-e", "SECRET=s3",
        "--expose", "5432", "--expose", "7000-7001/udp", "busybox", "sleep", "120",
    )  # fmt: skip
    ip = docker.inspect("db", "{{.NetworkSettings.IPAddress}}")
    out = docker.ok(
        "run", "--rm", "--name", "web", "--link", "db:my-db", "busybox", "sh", "-c",
        "env; echo ---; cat /etc/hosts; ping -c1 -W3 my-db >/dev/null && echo ping-ok",
    )  # fmt: skip
    env, _, rest = out.partition("---")
    assert _env(env, "MY_DB_") == {
        "MY_DB_PORT": f"tcp://{ip}:5432",
        "MY_DB_PORT_5432_TCP": f"tcp://{ip}:5432",
        "MY_DB_PORT_5432_TCP_ADDR": ip,
        "MY_DB_PORT_5432_TCP_PORT": "5432",
        "MY_DB_PORT_5432_TCP_PROTO": "tcp",
        "MY_DB_PORT_7000_UDP": f"udp://{ip}:7000",
        "MY_DB_PORT_7000_UDP_ADDR": ip,
        "MY_DB_PORT_7000_UDP_PORT": "7000",
        "MY_DB_PORT_7000_UDP_PROTO": "udp",
        "MY_DB_PORT_7001_UDP": f"udp://{ip}:7001",
        "MY_DB_PORT_7001_UDP_ADDR": ip,
        "MY_DB_PORT_7001_UDP_PORT": "7001",
        "MY_DB_PORT_7001_UDP_PROTO": "udp",
        "MY_DB_PORT_7000_UDP_START": f"udp://{ip}:7000",
        "MY_DB_PORT_7000_UDP_PORT_START": "7000",
        "MY_DB_PORT_7000_UDP_END": f"udp://{ip}:7001",
        "MY_DB_PORT_7000_UDP_PORT_END": "7001",
        "MY_DB_NAME": "/web/my-db",
        "MY_DB_ENV_SECRET": "s3",
    }
    # The alias, the target's hostname, its name (the alias differs from it).
    assert f"{ip}\tmy-db dbhost db\n" in rest, rest
    assert "ping-ok" in rest
    # The container's own variables win over a link's.
    own = docker.ok(
        "run", "--rm", "--link", "db", "-e", "DB_NAME=mine", "busybox", "sh", "-c",
        "echo $DB_NAME; grep -c 'db dbhost' /etc/hosts",
    )  # fmt: skip
    assert own.split() == ["mine", "1"], own
    # Inspect shows the link index, as moby's: "/target:/linker/alias".
    docker.ok("create", "--name", "lk", "--link", "db:my-db", "busybox", "true")
    assert docker.inspect("lk", "{{json .HostConfig.Links}}") == '["/db:/lk/my-db"]'


def test_link_refusals_follow_dockerd(docker: Docker) -> None:
    missing = docker("run", "--rm", "--link", "nosuch:x", "busybox", "true")
    assert missing.returncode == 125
    assert "could not get container for nosuch" in missing.stderr, missing.stderr
    assert "Unable to find image" not in missing.stderr  # a 400, not a 404
    docker.ok("create", "--name", "idle", "busybox", "sleep", "60")
    stopped = docker("run", "--rm", "--name", "linker", "--link", "idle:i", "busybox", "true")
    assert stopped.returncode != 0
    assert "Cannot link to a non running container: /idle AS /linker/i" in stopped.stderr
    host = docker("run", "--rm", "--network", "host", "--link", "idle", "busybox", "true")
    assert "host type networking can't be used with links" in host.stderr
    # Nothing half-made: the refused containers do not exist.
    assert "linker" not in docker.ok("ps", "-a", "--format", "{{.Names}}").split()


def test_links_on_a_user_network_are_names_for_the_linker_only(docker: Docker) -> None:
    docker.ok("network", "create", "linked")
    docker.ok("run", "-d", "--name", "target", "--network", "linked", "busybox", "sleep", "60")
    ip = docker.inspect("target", "{{.NetworkSettings.Networks.linked.IPAddress}}")
    linker = docker.ok(
        "run", "--rm", "--network", "linked", "--link", "target:tgt", "busybox",
        "nslookup", "tgt", "127.0.0.11",
    )  # fmt: skip
    assert ip in linker, linker
    other = docker("run", "--rm", "--network", "linked", "busybox", "nslookup", "tgt", "127.0.0.11")
    assert ip not in other.stdout
    # A link given at connect: the same, for the connected container.
    docker.ok("run", "-d", "--name", "late", "busybox", "sleep", "60")
    docker.ok("network", "connect", "--link", "target:t2", "linked", "late")
    assert ip in docker.ok("exec", "late", "nslookup", "t2", "127.0.0.11")
    # Its first network with the embedded DNS made that its resolver, as dockerd.
    resolv = docker.ok("exec", "late", "cat", "/etc/resolv.conf")
    assert resolv.startswith("nameserver 127.0.0.11\n") and "ndots:0" in resolv, resolv
    assert resolv.count("nameserver") == 1, resolv
    assert ip in docker.ok("exec", "late", "nslookup", "target")


def test_dns_names_follow_a_rename(docker: Docker) -> None:
    docker.ok("network", "create", "renames")
    docker.ok("run", "-d", "--name", "before", "--network", "renames", "busybox", "sleep", "60")
    ip = docker.inspect("before", "{{.NetworkSettings.Networks.renames.IPAddress}}")
    docker.ok("rename", "before", "after")
    out = docker.ok(
        "run", "--rm", "--network", "renames", "busybox", "sh", "-c",
        "nslookup after 127.0.0.11; echo ---; nslookup before 127.0.0.11 || echo gone",
    )  # fmt: skip
    new, _, old = out.partition("---")
    assert ip in new and ip not in old and "gone" in old, out
    template = "{{range .Containers}}{{.Name}}{{end}}"
    names = docker.ok("network", "inspect", "-f", template, "renames")
    assert names.strip() == "after"


def test_connect_and_disconnect_follow_in_etc_hosts(docker: Docker) -> None:
    docker.ok("network", "create", "first")
    docker.ok("network", "create", "second")
    docker.ok(
        "run", "-d", "--name", "multi", "--hostname", "box", "--domainname", "example.test",
        "--network", "first", "busybox", "sleep", "120",
    )  # fmt: skip
    one = docker.inspect("multi", "{{.NetworkSettings.Networks.first.IPAddress}}")
    assert f"{one}\tbox.example.test box\n" in docker.ok("exec", "multi", "cat", "/etc/hosts")
    docker.ok("network", "connect", "second", "multi")
    two = docker.inspect("multi", "{{.NetworkSettings.Networks.second.IPAddress}}")
    hosts = docker.ok("exec", "multi", "cat", "/etc/hosts")
    assert hosts.endswith(f"{one}\tbox.example.test box\n{two}\tbox.example.test box\n"), hosts
    docker.ok("network", "disconnect", "second", "multi")
    hosts = docker.ok("exec", "multi", "cat", "/etc/hosts")
    assert two not in hosts and f"{one}\tbox.example.test box\n" in hosts, hosts
    # Connected before its start, a container has a line per network from the start.
    docker.ok("create", "--name", "both", "--network", "first", "busybox", "sleep", "60")
    docker.ok("network", "connect", "second", "both")
    docker.ok("start", "both")
    hosts = docker.ok("exec", "both", "cat", "/etc/hosts")
    for net in ("first", "second"):
        ip = docker.inspect("both", f"{{{{.NetworkSettings.Networks.{net}.IPAddress}}}}")
        assert f"{ip}\t" in hosts, hosts


def test_a_linked_container_started_again_is_written_in_its_linkers_hosts(
    docker: Docker,
) -> None:
    docker.ok("run", "-d", "--name", "backend", "busybox", "sleep", "120")
    docker.ok("run", "-d", "--name", "front", "--link", "backend:be", "busybox", "sleep", "120")
    old = docker.inspect("backend", "{{.NetworkSettings.IPAddress}}")
    assert f"{old}\tbe " in docker.ok("exec", "front", "cat", "/etc/hosts")
    docker.ok("stop", "-t", "0", "backend")
    docker.ok("run", "-d", "busybox", "sleep", "120")  # takes the next address
    docker.ok("start", "backend")
    new = docker.inspect("backend", "{{.NetworkSettings.IPAddress}}")
    assert new != old
    hosts = docker.ok("exec", "front", "cat", "/etc/hosts")
    assert f"{new}\tbe " in hosts and f"{old}\t" not in hosts, hosts
    assert (
        docker.ok("exec", "front", "sh", "-c", "ping -c1 -W3 be >/dev/null && echo ok").strip()
        == "ok"
    )


def test_a_linkers_unwritable_hosts_file_does_not_stop_the_target(docker: Docker) -> None:
    """A linker's /etc/hosts that cannot be rewritten (here a directory took its place
    on the host) is the linker's problem: the target starts, and its own networking
    is whole."""
    docker.ok("run", "-d", "--name", "target", "busybox", "sleep", "120")
    front = docker.ok(
        "run", "-d", "--name", "linker", "--link", "target:tg", "busybox", "sleep", "120"
    ).strip()  # fmt: skip
    hosts = docker.daemon.data_root / "containers" / front / "hosts"
    assert hosts.is_file()
    docker.ok("stop", "-t", "0", "target")
    hosts.unlink()  # the linker keeps the old file through its bind mount
    hosts.mkdir()
    docker.ok("start", "target")
    assert docker.inspect("target", "{{.State.Running}}") == "true"
    ip = docker.inspect("target", "{{.NetworkSettings.IPAddress}}")
    assert ip
    assert "ok" in docker.ok(
        "run", "--rm", "--link", "target:tg", "busybox", "sh", "-c",
        "ping -c1 -W3 tg >/dev/null && echo ok",
    )  # fmt: skip
    hosts.rmdir()


def test_connect_and_disconnect_stand_when_the_hosts_file_cannot_be_rewritten(
    docker: Docker,
) -> None:
    """As moby's addHostsEntries and deleteHostsEntries, which only warn: the endpoint
    is joined or gone, so the connect or disconnect succeeds."""
    docker.ok("network", "create", "keep")
    docker.ok("network", "create", "drop")
    cid = docker.ok(
        "run", "-d", "--name", "leaver", "--network", "keep", "busybox", "sleep", "120"
    ).strip()  # fmt: skip
    hosts = docker.daemon.data_root / "containers" / cid / "hosts"
    hosts.unlink()  # the container keeps the old file through its bind mount
    hosts.mkdir()
    docker.ok("network", "connect", "drop", "leaver")
    assert "eth1" in docker.ok("exec", "leaver", "ip", "-o", "link")
    docker.ok("network", "disconnect", "drop", "leaver")
    assert docker.inspect("leaver", "{{json .NetworkSettings.Networks.drop}}") == "null"
    assert "eth1" not in docker.ok("exec", "leaver", "ip", "-o", "link")
    hosts.rmdir()
    # From the default bridge to a first user network: resolv.conf is rewritten for
    # the embedded DNS (moby's startResolver logs a failure and goes on).
    plain = docker.ok("run", "-d", "busybox", "sleep", "120").strip()
    resolv = docker.daemon.data_root / "containers" / plain / "resolv.conf"
    resolv.unlink()
    resolv.mkdir()
    docker.ok("network", "connect", "drop", plain)
    assert "eth1" in docker.ok("exec", plain, "ip", "-o", "link")
    resolv.rmdir()


def test_a_link_through_a_cycle_of_container_modes_is_refused(docker: Docker) -> None:
    """Names in `container:` modes are kept as given, so a removed and re-created
    container can close a cycle; following it for a link must end, with a 400."""
    docker.ok("create", "--name", "ring-b", "busybox", "true")
    docker.ok("create", "--name", "ring-a", "--network", "container:ring-b", "busybox", "true")
    docker.ok("rm", "ring-b")
    docker.ok("create", "--name", "ring-b", "--network", "container:ring-a", "busybox", "true")
    out = docker("create", "--link", "ring-b", "busybox", "true", timeout=20)
    assert out.returncode != 0
    assert "could not get container for ring-b" in out.stderr, out.stderr
    assert docker.ok("version", "--format", "{{.Server.Version}}").strip()
