"""Inspect and list outputs of a real pierd validated against moby's v1.47 contract.

`schema/v1.47.json` is generated from moby's swagger by `schema/generate.py` (see its
docstring for how nullability and unknown fields are treated): every property Pier
emits must have the contract's type, and required properties must be there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pier.client.api import Client
from pier_testing.api import create, wait_for
from pier_testing.daemon import PierDaemon

SCHEMA = json.loads((Path(__file__).parent / "schema" / "v1.47.json").read_text())


def _errors(operation: str, document: Any) -> list[str]:
    schema = {"$defs": SCHEMA["$defs"], **SCHEMA["responses"][operation]}
    validator = Draft202012Validator(schema)
    return sorted(
        f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
        for e in validator.iter_errors(document)
    )


def test_the_contract_is_strict_enough_to_fail() -> None:
    # A guard that cannot fail guards nothing: a wrong type, an unknown field and a
    # missing required field must each be reported.
    assert _errors("SystemVersion", {"Version": 1})
    assert _errors("ContainerInspect", {"Id": "x", "Bogus": 1})
    assert _errors("ImageList", [{"Id": "sha256:x"}])
    assert _errors("ContainerInspect", {"HostConfig": {"Binds": None}}) == []


@pytest.fixture
def running(pier: PierDaemon) -> Iterator[str]:
    cid = create(
        pier.client,
        ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"],
        name="schema-running",
        Labels={"k": "v"},
        Env=["A=1"],
    )
    pier.client.post(f"/containers/{cid}/start")
    yield cid


def _get(client: Client, path: str, **params: Any) -> Any:
    return client.get_json(path, **params)


def test_container_inspect(pier: PierDaemon, running: str) -> None:
    created = create(pier.client, ["true"], name="schema-created")
    for cid in (running, created):
        assert _errors("ContainerInspect", _get(pier.client, f"/containers/{cid}/json")) == []
    with_size = _get(pier.client, f"/containers/{running}/json", size=1)
    assert _errors("ContainerInspect", with_size) == []


def test_container_inspect_of_an_exited_container(pier: PierDaemon) -> None:
    cid = create(pier.client, ["sh", "-c", "exit 3"], name="schema-exited")
    pier.client.post(f"/containers/{cid}/start")
    wait_for(lambda: _get(pier.client, f"/containers/{cid}/json")["State"]["Status"] == "exited")
    assert _errors("ContainerInspect", _get(pier.client, f"/containers/{cid}/json")) == []


def test_container_list(pier: PierDaemon, running: str) -> None:
    create(pier.client, ["true"], name="schema-listed")
    listed = _get(pier.client, "/containers/json", all=1)
    assert len(listed) == 2
    assert _errors("ContainerList", listed) == []
    assert _errors("ContainerList", _get(pier.client, "/containers/json", all=1, size=1)) == []


def test_image_list_inspect_and_history(pier: PierDaemon) -> None:
    images = _get(pier.client, "/images/json")
    assert images
    assert _errors("ImageList", images) == []
    assert _errors("ImageInspect", _get(pier.client, "/images/busybox/json")) == []
    assert _errors("ImageHistory", _get(pier.client, "/images/busybox/history")) == []


def test_info_and_version(pier: PierDaemon) -> None:
    assert _errors("SystemInfo", _get(pier.client, "/info")) == []
    assert _errors("SystemVersion", _get(pier.client, "/version")) == []


def test_exec_inspect(pier: PierDaemon, running: str) -> None:
    exec_id = pier.client.post_json(f"/containers/{running}/exec", {"Cmd": ["true"]})["Id"]
    assert _errors("ExecInspect", _get(pier.client, f"/exec/{exec_id}/json")) == []
    pier.client.post_json(f"/exec/{exec_id}/start", {"Detach": True})
    wait_for(lambda: _get(pier.client, f"/exec/{exec_id}/json")["Running"] is False)
    assert _errors("ExecInspect", _get(pier.client, f"/exec/{exec_id}/json")) == []
