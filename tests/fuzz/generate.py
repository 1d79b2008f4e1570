"""Make the compact swagger the fuzz test reads from moby's v1.47 contract: the paths,
parameters and definitions, without descriptions or examples (the yaml is 430 kB).

Run by hand when the advertised API version changes, with a Python that has PyYAML
(Debian's python3-yaml: /usr/bin/python3), on the yaml of moby's tree:

    git -C <moby> show v28.2.2:docs/api/v1.47.yaml > /tmp/v1.47.yaml
    /usr/bin/python3 tests/fuzz/generate.py /tmp/v1.47.yaml > tests/fuzz/v1.47.swagger.json

The yaml is not committed; the JSON it yields is.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import yaml

DROP = {"description", "example", "examples", "x-go-name", "externalDocs", "title"}


def strip(node: Any, *, in_properties: bool = False) -> Any:
    """Drop prose everywhere except where a key is a name (properties, definitions)."""
    if isinstance(node, dict):
        return {
            k: strip(v, in_properties=k in ("properties", "definitions", "paths", "responses"))
            for k, v in node.items()
            if in_properties or k not in DROP
        }
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main(path: str) -> None:
    with open(path) as fh:
        spec = yaml.safe_load(fh)
    spec.pop("tags", None)
    spec.pop("info", None)
    out = strip(spec)
    for operations in out["paths"].values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                response["description"] = ""  # required by swagger 2.0
    out["info"] = {"title": "Docker Engine API", "version": "1.47"}
    json.dump(out, sys.stdout, separators=(",", ":"), sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
