"""Create fields of the wrong JSON kind are dockerd's decoder 400s, leaving nothing."""

from __future__ import annotations

import pytest

from pier.client.errors import APIError
from pier_testing.api import create, inspect
from pier_testing.daemon import PierDaemon


@pytest.mark.parametrize(
    ("value", "kind"),
    [(1, "number"), (True, "bool"), ([], "array"), ({}, "object")],
    ids=["number", "bool", "array", "object"],
)
def test_annotation_values_are_strings(pier: PierDaemon, value: object, kind: str) -> None:
    with pytest.raises(APIError) as caught:
        create(pier.client, ["true"], host_config={"Annotations": {"a": value}})
    assert caught.value.status == 400
    field = "HostConfig.HostConfig.Annotations"  # the struct, then the path from the top
    said = f"cannot unmarshal {kind} into Go struct field {field} of type string"
    assert said in str(caught.value)
    assert pier.client.get_json("/containers/json", all=1) == []


def test_a_null_annotation_is_the_empty_string(pier: PierDaemon) -> None:
    """As Go decodes null into a map's string."""
    cid = create(pier.client, ["true"], host_config={"Annotations": {"a": None, "b": "x"}})
    assert inspect(pier.client, cid)["HostConfig"]["Annotations"] == {"a": "", "b": "x"}
