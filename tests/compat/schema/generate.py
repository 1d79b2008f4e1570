"""Extract the response contract of the endpoints tests/compat checks from moby's
swagger into a compact JSON Schema (draft 2020-12): field names, types, enums,
nullability and required fields; descriptions and examples are dropped.

Run by hand when the advertised API version changes, with a Python that has PyYAML
(Debian's python3-yaml: /usr/bin/python3), on the yaml of moby's tree
(api/docs/v1.47.yaml, formerly docs/api/v1.47.yaml):

    /usr/bin/python3 tests/compat/schema/generate.py v1.47.yaml > tests/compat/schema/v1.47.json

The yaml is not committed; the JSON it yields is.

How swagger 2.0 becomes JSON Schema here, and why:
- `x-nullable: true` allows null (moby marks Go pointers so).
- Arrays and maps (objects with additionalProperties or no properties) also allow
  null: Go's encoding/json writes a nil slice or map as null, and dockerd does
  (`"Binds": null`); the yaml leaves that implicit.
- Objects with properties are Go structs: a property the yaml does not name is
  refused (additionalProperties false), so a misspelt field fails the check.
- `allOf` is merged into one object (HostConfig is Resources plus its own fields).
- GO_POINTERS lists the Go pointer fields without omitempty that the yaml types as
  plain scalars: dockerd writes them as null when unset, so null is allowed there.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

# Response schemas checked by tests/compat/test_schema.py: operation -> (path, method).
OPERATIONS = {
    "ContainerInspect": ("/containers/{id}/json", "get"),
    "ContainerList": ("/containers/json", "get"),
    "ImageList": ("/images/json", "get"),
    "ImageInspect": ("/images/{name}/json", "get"),
    "ImageHistory": ("/images/{name}/history", "get"),
    "SystemInfo": ("/info", "get"),
    "SystemVersion": ("/version", "get"),
    "ExecInspect": ("/exec/{id}/json", "get"),
    "VolumeList": ("/volumes", "get"),
    "VolumeInspect": ("/volumes/{name}", "get"),
    "VolumeCreate": ("/volumes/create", "post"),
    "VolumePrune": ("/volumes/prune", "post"),
    "SystemDataUsage": ("/system/df", "get"),
    "ContainerPrune": ("/containers/prune", "post"),
    "ImagePrune": ("/images/prune", "post"),
}

# (definition or operation, property): Go pointers the yaml does not mark x-nullable.
GO_POINTERS = (
    # moby api/types/container/hostconfig.go Resources: *int64, *bool, *int64
    ("Resources", "MemorySwappiness"),
    ("Resources", "OomKillDisable"),
    ("Resources", "PidsLimit"),
    # moby api/types/backend/backend.go ExecInspect.ExitCode *int: null until it exits
    ("ExecInspect", "ExitCode"),
)

_KEPT = ("type", "enum", "required", "minItems", "maxItems")


class Converter:
    def __init__(self, definitions: dict[str, Any]) -> None:
        self._definitions = definitions
        self.needed: dict[str, Any] = {}

    def ref(self, name: str) -> dict[str, Any]:
        if name not in self.needed:
            self.needed[name] = {}  # placeholder: definitions may refer to themselves
            self.needed[name] = self.convert(self._definitions[name])
        return {"$ref": f"#/$defs/{name}"}

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        ref = node.get("$ref")
        if ref:
            return dict(self._definitions[ref.rsplit("/", 1)[1]])
        return node

    def _merge_all_of(self, node: dict[str, Any]) -> dict[str, Any]:
        merged = {k: v for k, v in node.items() if k != "allOf"}
        for part in node["allOf"]:
            part = self._resolve(part)
            if "allOf" in part:
                part = self._merge_all_of(part)
            for key, value in part.items():
                if key == "properties":
                    merged.setdefault("properties", {}).update(value)
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return merged

    def convert(self, node: dict[str, Any]) -> dict[str, Any]:
        nullable = bool(node.get("x-nullable"))
        if "$ref" in node:
            target = self.ref(node["$ref"].rsplit("/", 1)[1])
            return {"anyOf": [target, {"type": "null"}]} if nullable else target
        if "allOf" in node:
            node = self._merge_all_of(node)
        out: dict[str, Any] = {k: node[k] for k in _KEPT if k in node}
        kind = node.get("type")
        if kind == "array":
            out["items"] = self.convert(node.get("items", {}))
            nullable = True
        elif kind == "object" or "properties" in node:
            out["type"] = "object"
            if "properties" in node:
                out["properties"] = {k: self.convert(v) for k, v in node["properties"].items()}
                extra = node.get("additionalProperties")
                out["additionalProperties"] = (
                    self.convert(extra) if isinstance(extra, dict) else False
                )
            else:
                extra = node.get("additionalProperties", {})
                out["additionalProperties"] = (
                    self.convert(extra) if isinstance(extra, dict) else bool(extra)
                )
                nullable = True
        if nullable and "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out


def _ok(responses: dict[Any, Any]) -> Any:
    return responses[200] if 200 in responses else responses[201]


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as fh:
        swagger = yaml.safe_load(fh)
    response_schemas = {
        # 200, or 201 for a create (VolumeCreate)
        op: _ok(swagger["paths"][path][method]["responses"])["schema"]
        for op, (path, method) in OPERATIONS.items()
    }
    for owner, prop in GO_POINTERS:
        node = swagger["definitions"].get(owner) or response_schemas[owner]
        node["properties"][prop]["x-nullable"] = True
    converter = Converter(swagger["definitions"])
    responses = {op: converter.convert(schema) for op, schema in response_schemas.items()}
    schema = {
        "$comment": (
            f"Generated by tests/compat/schema/generate.py from moby's Engine API "
            f"{swagger['info']['version']} swagger; do not edit by hand."
        ),
        "$defs": dict(sorted(converter.needed.items())),
        "responses": responses,
    }
    json.dump(schema, sys.stdout, indent=1, sort_keys=False)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
