"""A create body field of the wrong JSON kind is dockerd's 400 with Go's decoder text
(`json: cannot unmarshal <kind> into Go struct field <Struct>.<path> of type <type>`),
and nothing is made. The texts are those Debian's dockerd 20.10 answered to the same
bodies, with the body's type named as moby 28 names it (container.CreateRequest where
20.10 had ContainerConfigWrapper): the innermost struct, then the path from the top."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pier_testing.daemon import PierDaemon

_T = "json: cannot unmarshal {} into Go struct field {} of type {}"
CASES: list[tuple[dict[str, Any], str]] = [
    ({"Cmd": 5}, _T.format("number", "CreateRequest.Cmd", "string")),
    ({"Cmd": [1]}, _T.format("array", "CreateRequest.Cmd", "string")),
    ({"Entrypoint": {}}, _T.format("object", "CreateRequest.Entrypoint", "string")),
    ({"Env": "A=1"}, _T.format("string", "CreateRequest.Env", "[]string")),
    ({"Env": [1]}, _T.format("number", "CreateRequest.Env", "string")),
    ({"Labels": []}, _T.format("array", "CreateRequest.Labels", "map[string]string")),
    ({"Labels": {"a": 1}}, _T.format("number", "CreateRequest.Labels", "string")),
    ({"StopTimeout": "x"}, _T.format("string", "CreateRequest.StopTimeout", "int")),
    ({"StopTimeout": 1.5}, _T.format("number 1.5", "CreateRequest.StopTimeout", "int")),
    (
        {"HostConfig": 5},
        _T.format("number", "CreateRequest.HostConfig", "container.HostConfig"),
    ),
    ({"HostConfig": {"Dns": "x"}}, _T.format("string", "HostConfig.HostConfig.Dns", "[]string")),
    ({"HostConfig": {"CapAdd": 5}}, _T.format("number", "HostConfig.HostConfig.CapAdd", "string")),
    (
        {"HostConfig": {"Annotations": {"a": 1}}},
        _T.format("number", "HostConfig.HostConfig.Annotations", "string"),
    ),
    (
        {"HostConfig": {"ShmSize": "x"}},
        _T.format("string", "HostConfig.HostConfig.ShmSize", "int64"),
    ),
    (
        {"HostConfig": {"OomScoreAdj": True}},
        _T.format("bool", "HostConfig.HostConfig.OomScoreAdj", "int"),
    ),
    (
        {"HostConfig": {"Ulimits": [{"Name": "nofile", "Soft": "x"}]}},
        _T.format("string", "Ulimit.HostConfig.Ulimits.Soft", "int64"),
    ),
    (
        {"HostConfig": {"LogConfig": {"Config": []}}},
        _T.format("array", "LogConfig.HostConfig.LogConfig.Config", "map[string]string"),
    ),
    (
        {"HostConfig": {"VolumeDriver": 5}},
        _T.format("number", "HostConfig.HostConfig.VolumeDriver", "string"),
    ),
    (
        {"HostConfig": {"MaskedPaths": "x"}},
        _T.format("string", "HostConfig.HostConfig.MaskedPaths", "[]string"),
    ),
    (
        {"HostConfig": {"Mounts": {}}},
        _T.format("object", "HostConfig.HostConfig.Mounts", "[]mount.Mount"),
    ),
    (
        {"HostConfig": {"Tmpfs": []}},
        _T.format("array", "HostConfig.HostConfig.Tmpfs", "map[string]string"),
    ),
    (
        {"HostConfig": {"RestartPolicy": 5}},
        _T.format("number", "HostConfig.HostConfig.RestartPolicy", "container.RestartPolicy"),
    ),
    (
        {"HostConfig": {"ConsoleSize": "x"}},
        _T.format("string", "HostConfig.HostConfig.ConsoleSize", "[2]uint"),
    ),
    (
        {"NetworkingConfig": 5},
        _T.format("number", "CreateRequest.NetworkingConfig", "network.NetworkingConfig"),
    ),
    (
        {"NetworkingConfig": {"EndpointsConfig": {"n": 5}}},
        _T.format(
            "number",
            "NetworkingConfig.NetworkingConfig.EndpointsConfig",
            "network.EndpointSettings",
        ),
    ),
    (
        {"NetworkingConfig": {"EndpointsConfig": {"n": {"Aliases": "x"}}}},
        _T.format(
            "string", "EndpointSettings.NetworkingConfig.EndpointsConfig.Aliases", "[]string"
        ),
    ),
]


@pytest.mark.parametrize(("fields", "message"), CASES, ids=[json.dumps(c[0]) for c in CASES])
def test_a_field_of_the_wrong_kind_is_gos_decoder_error(
    pier: PierDaemon, fields: dict[str, Any], message: str
) -> None:
    body = json.dumps({"Image": "busybox", **fields}).encode()
    resp = pier.client.open(
        "POST", "/containers/create", body=body, headers={"Content-Type": "application/json"}
    )
    assert (resp.status, json.loads(resp.read())) == (400, {"message": message})
    assert pier.client.get_json("/containers/json", all=1) == []


def test_go_decodes_a_short_console_size_with_zeros(pier: PierDaemon) -> None:
    created = pier.client.post_json(
        "/containers/create",
        {"Image": "busybox", "Cmd": ["true"], "HostConfig": {"ConsoleSize": [24]}},
    )
    inspected = pier.client.get_json(f"/containers/{created['Id']}/json")
    assert inspected["HostConfig"]["ConsoleSize"] == [24, 0]
    pier.client.delete(f"/containers/{created['Id']}")


def test_network_connect_names_its_own_body(pier: PierDaemon) -> None:
    """moby's network.ConnectOptions holds the settings as EndpointConfig."""
    cid = pier.client.post_json("/containers/create", {"Image": "busybox", "Cmd": ["true"]})["Id"]
    body = json.dumps({"Container": cid, "EndpointConfig": {"Aliases": "a"}}).encode()
    resp = pier.client.open(
        "POST", "/networks/bridge/connect", body=body, headers={"Content-Type": "application/json"}
    )
    said = _T.format("string", "EndpointSettings.EndpointConfig.Aliases", "[]string")
    assert (resp.status, json.loads(resp.read())) == (400, {"message": said})
    pier.client.delete(f"/containers/{cid}")


def test_network_connect_decodes_its_body_before_any_lookup(pier: PierDaemon) -> None:
    """moby reads the whole body first: a malformed one is a 400 even when the container
    it names does not exist."""
    body = json.dumps({"Container": "no-such", "EndpointConfig": {"Aliases": "a"}}).encode()
    resp = pier.client.open(
        "POST", "/networks/bridge/connect", body=body, headers={"Content-Type": "application/json"}
    )
    said = _T.format("string", "EndpointSettings.EndpointConfig.Aliases", "[]string")
    assert (resp.status, json.loads(resp.read())) == (400, {"message": said})


EXEC_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("create", {"Cmd": "ls"}, _T.format("string", "ExecOptions.Cmd", "[]string")),
    ("create", {"Cmd": ["ls"], "Env": [1]}, _T.format("number", "ExecOptions.Env", "string")),
    ("create", {"Cmd": ["ls"], "User": 0}, _T.format("number", "ExecOptions.User", "string")),
    ("create", {"Cmd": ["ls"], "Tty": "y"}, _T.format("string", "ExecOptions.Tty", "bool")),
    (
        "create",
        {"Cmd": ["ls"], "ConsoleSize": "x"},
        _T.format("string", "ExecOptions.ConsoleSize", "[2]uint"),
    ),
    ("start", {"Tty": "y"}, _T.format("string", "ExecStartOptions.Tty", "bool")),
    ("start", {"Detach": 1}, _T.format("number", "ExecStartOptions.Detach", "bool")),
    (
        "start",
        {"ConsoleSize": [-1, 2]},
        "json: cannot unmarshal number -1 into Go struct field "
        "ExecStartOptions.ConsoleSize of type uint",
    ),
]


@pytest.mark.parametrize(("step", "body", "said"), EXEC_CASES)
def test_exec_bodies_name_moby_28_structs(
    pier: PierDaemon, step: str, body: dict[str, Any], said: str
) -> None:
    cid = pier.client.post_json("/containers/create", {"Image": "busybox", "Cmd": ["sleep", "60"]})[
        "Id"
    ]
    try:
        pier.client.post(f"/containers/{cid}/start")
        path = f"/containers/{cid}/exec"
        if step == "start":
            eid = pier.client.post_json(path, {"Cmd": ["true"]})["Id"]
            path = f"/exec/{eid}/start"
        headers = {"Content-Type": "application/json"}
        resp = pier.client.open("POST", path, body=json.dumps(body).encode(), headers=headers)
        assert (resp.status, json.loads(resp.read())) == (400, {"message": said})
    finally:
        pier.client.delete(f"/containers/{cid}", force=1)
