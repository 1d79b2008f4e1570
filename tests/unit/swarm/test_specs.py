"""Service specs (swarmkit's checks, Pier's refusals, ports), task containers' create
bodies and names, tokens, addresses."""

from __future__ import annotations

from typing import Any

import pytest

from pier.errors import InvalidParameter, NotImplementedByPier
from pier.swarm import addresses, ids, servicespec, taskspec


def spec(**extra: Any) -> dict[str, Any]:
    return {"Name": "web", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}, **extra}


@pytest.mark.parametrize(
    ("change", "error", "words"),
    [
        ({"Name": "bad name"}, InvalidParameter, "valid as a DNS name component"),
        ({"TaskTemplate": {"ContainerSpec": {}}}, InvalidParameter, "image reference"),
        ({"TaskTemplate": {"ContainerSpec": {"Image": "b", "Secrets": [{}]}}},
         NotImplementedByPier, "secrets"),
        ({"TaskTemplate": {"ContainerSpec": {"Image": "b", "Configs": [{}]}}},
         NotImplementedByPier, "configs"),
        ({"TaskTemplate": {"ContainerSpec": {"Image": "b"}, "Networks": [{"Target": "n"}]}},
         NotImplementedByPier, "overlay networks"),
        ({"Mode": {"ReplicatedJob": {}}}, NotImplementedByPier, "job services"),
        ({"EndpointSpec": {"Ports": [{"TargetPort": 53, "Protocol": "udp"}]}},
         NotImplementedByPier, "TCP only"),
        ({"EndpointSpec": {"Ports": [{"TargetPort": 1, "PublishedPort": 8},
                                     {"TargetPort": 2, "PublishedPort": 8}]}},
         InvalidParameter, "duplicate published ports"),
    ],
    ids=["name", "image", "secrets", "configs", "networks", "job", "udp-ingress", "dup"],
)  # fmt: skip
def test_check_refuses(change: dict[str, Any], error: type[Exception], words: str) -> None:
    with pytest.raises(error) as refused:
        servicespec.check(spec(**change))
    assert words in str(refused.value)


def test_udp_in_host_mode_is_fine_and_modes_normalise() -> None:
    servicespec.check(
        spec(EndpointSpec={"Ports": [{"TargetPort": 53, "Protocol": "udp", "PublishMode": "host"}]})
    )
    assert servicespec.normalise(spec())["Mode"] == {"Replicated": {"Replicas": 1}}
    assert servicespec.replicas(spec(Mode={"Replicated": {"Replicas": 0}})) == 0
    assert servicespec.is_global(spec(Mode={"Global": {}}))
    # Go's JSON decoding ignores case; docker-py's ServiceMode sends lowercase keys.
    assert servicespec.normalise(spec(Mode={"replicated": {"replicas": 2}}))["Mode"] == {
        "Replicated": {"Replicas": 2}
    }
    assert servicespec.is_global(servicespec.normalise(spec(Mode={"global": {}})))


def test_ingress_ports_get_a_dynamic_port_and_conflicts_are_refused() -> None:
    ports = servicespec.resolve_ports(
        spec(
            EndpointSpec={"Ports": [{"TargetPort": 80}, {"TargetPort": 81, "PublishedPort": 8080}]}
        ),
        {30000: "other"},
        "web",
    )
    assert ports == [
        {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 30001, "PublishMode": "ingress"},
        {"Protocol": "tcp", "TargetPort": 81, "PublishedPort": 8080, "PublishMode": "ingress"},
    ]
    with pytest.raises(InvalidParameter) as taken:
        servicespec.resolve_ports(
            spec(EndpointSpec={"Ports": [{"TargetPort": 80, "PublishedPort": 30000}]}),
            {30000: "other"},
            "web",
        )
    assert "port '30000' is already in use by service 'other'" in str(taken.value)


def test_task_container_body_and_names() -> None:
    task = {
        "ID": "t" * 25,
        "ServiceID": "s" * 25,
        "NodeID": "n" * 25,
        "Slot": 3,
        "_Service": "web",
        "_Ports": [
            {"TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host", "Protocol": "tcp"},
            {"TargetPort": 81, "PublishedPort": 30000, "PublishMode": "ingress"},
        ],
        "Spec": {
            "ContainerSpec": {
                "Image": "busybox",
                "Command": ["sh"],
                "Args": ["-c", "top"],
                "Env": ["A=1"],
                "Labels": {"mine": "yes"},
                "Hosts": ["10.0.0.1 db"],
                "StopGracePeriod": 3_000_000_000,
            },
            "Resources": {"Limits": {"MemoryBytes": 64 << 20}},
        },
    }
    assert taskspec.container_name(task) == f"web.3.{'t' * 25}"
    assert taskspec.grace_seconds(task) == 3
    body = taskspec.create_body(task)
    assert body["Entrypoint"] == ["sh"] and body["Cmd"] == ["-c", "top"]
    assert body["Labels"]["mine"] == "yes"
    assert body["Labels"]["com.docker.swarm.task.name"] == f"web.3.{'t' * 25}"
    assert body["Labels"]["com.docker.swarm.service.name"] == "web"
    assert body["HostConfig"]["PortBindings"] == {
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}],
        "81/tcp": [{"HostIp": "", "HostPort": ""}],  # ingress: an ephemeral port
    }
    assert body["HostConfig"]["ExtraHosts"] == ["db:10.0.0.1"]
    assert body["HostConfig"]["Memory"] == 64 << 20
    assert body["HostConfig"]["RestartPolicy"] == {"Name": "no"}  # swarm restarts tasks
    glob = {**task, "Slot": 0}
    assert taskspec.container_name(glob) == f"web.{'n' * 25}.{'t' * 25}"


def test_tokens_and_ids() -> None:
    cluster = ids.new_id()
    token = ids.new_token(cluster)
    assert token.startswith("SWMTKN-1-") and ids.token_cluster(token) == cluster
    assert ids.new_token(cluster) != token
    assert ids.token_cluster("SWMTKN-1-short-x") is None
    assert ids.token_cluster("nonsense") is None


def test_addresses() -> None:
    assert addresses.split("10.0.0.1", "ListenAddr") == ("10.0.0.1", 2377)
    assert addresses.split("[::1]:4000", "ListenAddr") == ("::1", 4000)
    assert addresses.advertise("10.0.0.2", "", 2377) == ("10.0.0.2", 2377)
    assert addresses.advertise("0.0.0.0", "10.9.9.9:5000", 2377) == ("10.9.9.9", 5000)
    with pytest.raises(InvalidParameter):
        addresses.split("h:port", "ListenAddr")
