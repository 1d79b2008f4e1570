"""`pier run/create` and `pier network create/connect` flags beside the docker CLI on
the same pierd: the same options leave the same inspect fields, bad values the same
message and status."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from pier_testing.daemon import PierDaemon

from .conftest import PierCLI

DOCKER = Path("/usr/local/bin/docker")
# Per-container values that differ between any two containers, whoever made them.
_OWN = ("Id", "Created", "Name", "Hostname", "HostnamePath", "HostsPath", "ResolvConfPath",
        "LogPath", "EndpointID", "NetworkID", "SandboxID", "SandboxKey", "DNSNames")  # fmt: skip


class Docker:
    def __init__(self, daemon: PierDaemon) -> None:
        self._env = daemon.env()

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DOCKER), *args], env=self._env, capture_output=True,
                              text=True, timeout=60)  # fmt: skip

    def ok(self, *args: str) -> str:
        out = self(*args)
        assert out.returncode == 0, (args, out.stderr)
        return out.stdout


@pytest.fixture
def docker(pier: PierDaemon) -> Docker:
    return Docker(pier)


def _strip(value: Any, *, listed: bool = False) -> Any:
    """Without the per-object keys (those of list entries, such as a ulimit's Name, kept)."""
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if listed or k not in _OWN}
    if isinstance(value, list):
        return [_strip(v, listed=True) for v in value]
    return value


def _inspect(cli: PierCLI, ref: str) -> dict[str, Any]:
    text = cli.ok("inspect", ref)
    # Legacy links name the linker: '/target:/<own name>/alias'.
    name = json.loads(text)[0]["Name"]
    info = json.loads(text.replace(f":{name}/", ":/SELF/"))[0]
    nets = info["NetworkSettings"]["Networks"] or {}
    return _strip({"Config": info["Config"], "HostConfig": info["HostConfig"],
                   "Networks": nets})  # fmt: skip


def _same_create(cli: PierCLI, docker: Docker, *args: str) -> dict[str, Any]:
    """`create ARGS busybox` by both CLIs: the inspect fields both made, compared."""
    ours = cli.ok("create", *args, "busybox", "true").strip()
    theirs = docker.ok("create", *args, "busybox", "true").strip()
    mine, other = _inspect(cli, ours), _inspect(cli, theirs)
    diff = {
        (part, k): (mine[part].get(k), other[part].get(k))
        for part in mine
        for k in {*mine[part], *other[part]}
        if mine[part].get(k) != other[part].get(k)
    }
    assert not diff, (args, diff)
    cli.ok("rm", ours, theirs)
    return mine


def _same_error(cli: PierCLI, docker: Docker, *args: str) -> str:
    ours = cli("create", *args, "busybox", "true")
    theirs = docker("create", *args, "busybox", "true")
    assert ours.returncode == theirs.returncode != 0, (args, ours.stderr, theirs.stderr)
    first = ours.stderr.splitlines()[0].replace("pier", "docker")
    assert first == theirs.stderr.splitlines()[0], args
    return first


def test_network_flags_on_a_user_network(cli: PierCLI, docker: Docker) -> None:
    cli.ok("network", "create", "--subnet", "172.29.0.0/16", "--ipv6", "--subnet",
           "fd00:29::/64", "rfnet")  # fmt: skip
    cli.ok("run", "-d", "--name", "rftarget", "--network", "rfnet", "busybox", "sleep", "600")
    got = _same_create(
        cli, docker, "--network", "rfnet", "--ip", "172.29.0.40", "--ip6", "fd00:29::40",
        "--network-alias", "a1", "--network-alias", "a2", "--link", "rftarget:tl",
        "--mac-address", "02:42:ac:1d:00:40", "--dns", "10.9.9.9", "--dns-search", "ex.test",
        "--dns-option", "ndots:2", "--sysctl", "net.ipv4.ip_forward=1",
    )  # fmt: skip
    ep = got["Networks"]["rfnet"]
    assert ep["IPAMConfig"] == {"IPv4Address": "172.29.0.40", "IPv6Address": "fd00:29::40"}
    assert ep["Aliases"] == ["a1", "a2"] and ep["Links"] == ["rftarget:tl"]
    assert ep["MacAddress"] == "02:42:ac:1d:00:40"
    hc = got["HostConfig"]
    assert (hc["Dns"], hc["DnsSearch"], hc["DnsOptions"]) == (["10.9.9.9"], ["ex.test"],
                                                              ["ndots:2"])  # fmt: skip
    assert hc["Sysctls"] == {"net.ipv4.ip_forward": "1"}
    # The long --network syntax, and it running: the address and alias are real.
    cli.ok("run", "-d", "--name", "rfrun", "--network",
           "name=rfnet,alias=long1,ip=172.29.0.41,mac-address=02:42:ac:1d:00:41",
           "busybox", "sleep", "600")  # fmt: skip
    addr = cli.ok("inspect", "-f", "{{.NetworkSettings.Networks.rfnet.IPAddress}} "
                  "{{.NetworkSettings.Networks.rfnet.MacAddress}}", "rfrun")  # fmt: skip
    assert addr == "172.29.0.41 02:42:ac:1d:00:41\n"
    ping = cli.ok("exec", "rftarget", "ping", "-4", "-c1", "-W5", "long1")
    assert "172.29.0.41" in ping
    _same_create(cli, docker, "--network", "name=rfnet,alias=x,ip6=fd00:29::42,driver-opt=k=v")
    cli.ok("rm", "-f", "rfrun", "rftarget")
    cli.ok("network", "rm", "rfnet")


def test_network_flags_on_the_default_bridge(cli: PierCLI, docker: Docker) -> None:
    cli.ok("run", "-d", "--name", "rflegacy", "busybox", "sleep", "600")
    got = _same_create(cli, docker, "--link", "rflegacy:db", "--expose", "7000", "-P",
                       "--add-host", "h1:10.1.1.1", "--sysctl", "kernel.shmmax=1000000",
                       "--dns-opt", "timeout:3")  # fmt: skip
    assert got["HostConfig"]["PublishAllPorts"] is True
    ports = _same_create(
        cli, docker, "-v", "./rfrel:/rel", "--dns", "0:0::1", "--dns", " 10.0.0.1",
        "-p", "127.0.0.1:18000-18001:80-81", "-p", "18020-18030:82",
        "-p", "published=18005,target=90,protocol=udp", "-p", "[::1]:18010:100",
        "-p", "7", "--expose", "7000-7002/udp", "--add-host", "h2=[::1]",
    )  # fmt: skip
    assert ports["HostConfig"]["PortBindings"]["81/tcp"] == [
        {"HostIp": "127.0.0.1", "HostPort": "18001"}
    ]
    assert ports["HostConfig"]["PortBindings"]["82/tcp"][0]["HostPort"] == "18020-18030"
    assert {"7001/udp", "90/udp"} <= set(ports["Config"]["ExposedPorts"])
    assert ports["HostConfig"]["ExtraHosts"] == ["h2:::1"]
    assert ports["HostConfig"]["Binds"] == [f"{Path.cwd()}/rfrel:/rel"]
    assert ports["HostConfig"]["Dns"] == ["::1", "10.0.0.1"]
    assert got["HostConfig"]["DnsOptions"] == ["timeout:3"]
    out = cli.ok("run", "--rm", "--link", "rflegacy:db", "-P", "--expose", "7000",
                 "busybox", "sh", "-c", "grep -cw db /etc/hosts; echo $DB_NAME")  # fmt: skip
    assert out.split() == ["1", f"/{out.split()[1].split('/')[1]}/db"]
    cli.ok("rm", "-f", "rflegacy")


def test_mount_ulimit_and_other_flags(cli: PierCLI, docker: Docker, tmp_path: Path) -> None:
    (tmp_path / "labels").write_text("# labels\nfrom.file=1\nbare\nshared=file\n")
    cli.ok("create", "--name", "rfvols", "-v", "/data", "busybox", "true")
    got = _same_create(
        cli, docker, "--mount", "type=volume,target=/v,volume-label=k=v,volume-nocopy",
        "--mount", f"type=bind,src={tmp_path},dst=/b,readonly,bind-propagation=rslave",
        "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
        "--ulimit", "nofile=1024:2048", "--ulimit", "nproc=100", "--volumes-from", "rfvols:ro",
        "--uts", "host", "--annotation", "org.example=1", "--label-file", str(tmp_path / "labels"),
        "--label", "shared=flag", "--volume-driver", "local", "--kernel-memory", "64m",
        "--disable-content-trust", "--platform", "linux/amd64",
    )  # fmt: skip
    hc = got["HostConfig"]
    assert [m["Target"] for m in hc["Mounts"]] == ["/v", "/b", "/t"]
    assert sorted(hc["Ulimits"], key=lambda u: u["Name"]) == [
        {"Name": "nofile", "Soft": 1024, "Hard": 2048},
        {"Name": "nproc", "Soft": 100, "Hard": 100},
    ]
    assert (hc["VolumesFrom"], hc["UTSMode"]) == (["rfvols:ro"], "host")
    assert hc["Annotations"] == {"org.example": "1"}
    assert got["Config"]["Labels"] == {"from.file": "1", "shared": "flag"}
    out = cli.ok("run", "--rm", "--ulimit", "nofile=1024:2048", "--mount",
                 "type=tmpfs,dst=/t,tmpfs-size=1m", "busybox", "sh", "-c",
                 "ulimit -n; df -k /t | tail -1")  # fmt: skip
    assert out.splitlines()[0] == "1024" and out.splitlines()[1].split()[1] == "1024"
    cli.ok("rm", "rfvols")


@pytest.mark.parametrize(
    "args",
    [
        ("--sysctl", "kernel.hostname=x"),
        ("--sysctl", "net.core.somaxconn"),
        ("--link", "a:b:c"),
        ("--mac-address", "02:42:zz:00:00:01"),
        ("--ip", "300.1.1.1"),
        ("--dns", "nope"),
        ("--dns-search", "-bad-"),
        ("--network-alias", "x"),
        ("--network", "rfnone", "--network", "host"),
        ("--network", "name=,alias=x"),
        ("--ulimit", "nofile=2:1"),
        ("--ulimit", "bogus=1"),
        ("--mount", "type=bind,src=/tmp"),
        ("--mount", "type=tmpfs,dst=/t,volume-nocopy"),
        ("--gpus", "all"),
        ("--gpus", "count=x"),
        ("--storage-opt", "size"),
        ("--storage-opt", "size=1G"),
        ("--isolation", "hyperv"),
        ("--io-maxiops", "10"),
        ("--cpu-count", "2"),
        ("--cpu-percent", "20"),
        ("--io-maxbandwidth", "1m"),
        ("--uts", "private"),
        ("--pid", "container:"),
        ("--rm", "--restart", "always"),
        ("--label", " =x"),
        ("--add-host", "nocolon"),
        ("--add-host", "h:notanip"),
        ("--expose", "1:2"),
        ("--expose", "x-y"),
        ("--device-cgroup-rule", "bogus"),
        ("--cgroupns", "weird"),
        ("--env", "=x"),
        ("--memory-swappiness", "200"),
        ("--log-driver", "none", "--log-opt", "a=b"),
        ("--security-opt", "label"),
        ("--restart", "on-failure:x"),
        ("-p", "x:y:z:w"),
    ],
)
def test_bad_values_as_docker(cli: PierCLI, docker: Docker, args: tuple[str, ...]) -> None:
    _same_error(cli, docker, *args)


def test_network_create_flags(cli: PierCLI, docker: Docker) -> None:
    args = (
        "--subnet",
        "172.28.0.0/16",
        "--gateway",
        "172.28.0.254",
        "--ip-range",
        "172.28.5.0/24",
        "--aux-address",
        "host1=172.28.1.5",
        "--ipv6",
        "--subnet",
        "fd00:28::/64",
        "--gateway",
        "fd00:28::fe",
        "--internal",
        "--attachable",
        "-o",
        "com.docker.network.bridge.name=rfbr0",
        "--label",
        "k=v",
        "--ipam-opt",
        "a=b",
    )
    nets = {}
    for who, name in ((cli, "rfmine"), (docker, "rftheirs")):
        who.ok("network", "create", *args, name)
        info = json.loads(cli.ok("network", "inspect", name))[0]
        cli.ok("network", "rm", name)
        info["IPAM"]["Config"].sort(key=lambda c: c["Subnet"])
        nets[name] = _strip(info)
    assert nets["rfmine"] == nets["rftheirs"]
    config = nets["rfmine"]["IPAM"]["Config"]
    assert config[0] == {
        "Subnet": "172.28.0.0/16",
        "Gateway": "172.28.0.254",
        "IPRange": "172.28.5.0/24",
        "AuxiliaryAddresses": {"host1": "172.28.1.5"},
    }
    for bad in (("--gateway", "10.0.0.1", "--subnet", "172.28.0.0/16"),
                ("--gateway", "10.0.0.1"), ("--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16"),
                ("--subnet", "nope")):  # fmt: skip
        ours, theirs = (
            cli("network", "create", *bad, "rfbad"),
            docker("network", "create", *bad, "rfbad"),
        )
        assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr), bad


def test_network_connect_flags(cli: PierCLI, docker: Docker) -> None:
    cli.ok("network", "create", "--subnet", "172.27.0.0/16", "rfconn")
    cli.ok("run", "-d", "--name", "rfpeer", "--network", "rfconn", "busybox", "sleep", "600")
    eps = []
    for who, name in ((cli, "rfc1"), (docker, "rfc2")):
        cli.ok("create", "--name", name, "busybox", "true")
        who.ok("network", "connect", "--alias", "c1,c2", "--alias", "c3", "--ip", "172.27.0.9",
               "--link", "rfpeer:p", "--driver-opt", "k=v", "rfconn", name)  # fmt: skip
        eps.append(_inspect(cli, name)["Networks"]["rfconn"])
    assert eps[0] == eps[1]
    assert eps[0]["Aliases"] == ["c1", "c2", "c3"]
    assert eps[0]["IPAMConfig"]["IPv4Address"] == "172.27.0.9"
    bad = ("network", "connect", "--driver-opt", "nokey", "rfconn", "rfc1")
    ours, theirs = cli(*bad), docker(*bad)
    assert (ours.returncode, ours.stderr) == (theirs.returncode, theirs.stderr)
    cli.ok("rm", "-f", "rfc1", "rfc2", "rfpeer")
    cli.ok("network", "rm", "rfconn")


def test_localhost_dns_warning(cli: PierCLI, docker: Docker) -> None:
    args = ("create", "--dns", "127.0.0.1", "--dns", "::1", "busybox", "true")
    ours, theirs = cli(*args), docker(*args)
    assert (
        ours.stderr
        == theirs.stderr
        == ("WARNING: Localhost DNS (127.0.0.1) may fail in containers.\n")
    )
    cli.ok("rm", ours.stdout.strip(), theirs.stdout.strip())


def test_use_api_socket(cli: PierCLI, docker: Docker, pier: PierDaemon, tmp_path: Path) -> None:
    """The socket reachable inside, and the client's credentials written for it."""
    config = tmp_path / "cfg"
    config.mkdir()
    (config / "config.json").write_text(json.dumps({"auths": {"reg.example:5000": {
        "auth": "dXNlcjpzZWNyZXQ="}}}))  # fmt: skip
    env = {**pier.env(), "DOCKER_CONFIG": str(config)}
    outputs = []
    for exe in (str(DOCKER), str(cli_path())):
        cid = subprocess.run(
            [exe, "-H", pier.host, "create", "--use-api-socket", "busybox", "sh", "-c",
             "test -S /var/run/docker.sock && echo $DOCKER_CONFIG && "
             "stat -c %a /run/secrets/docker/config.json && cat /run/secrets/docker/config.json"],
            env=env, capture_output=True, text=True, timeout=60, check=True,
        ).stdout.strip()  # fmt: skip
        outputs.append(cli.ok("start", "-a", cid))
        cli.ok("rm", cid)
    assert outputs[0].splitlines()[:2] == outputs[1].splitlines()[:2] == ["/run/secrets/docker",
                                                                          "600"]  # fmt: skip
    mine = json.loads("".join(outputs[1].splitlines(True)[2:]))
    theirs = json.loads("".join(outputs[0].splitlines(True)[2:]))
    assert mine == theirs == {"auths": {"reg.example:5000": {"auth": "dXNlcjpzZWNyZXQ="}}}


def cli_path() -> Path:
    from .conftest import PIER

    return PIER
