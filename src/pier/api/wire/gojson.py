"""Go's encoding/json decode errors, in dockerd's words.

dockerd decodes a request body into Go structs and answers a value of the wrong kind
with the decoder's UnmarshalTypeError as the 400's message: `json: cannot unmarshal
<kind> into Go struct field <Struct>.<path> of type <Go type>`, where <Struct> is the
innermost struct holding the field and <path> the field names from the body's top
(observed from dockerd: `HostConfig.HostConfig.Dns`, `Ulimit.HostConfig.Ulimits.Soft`).
Clients match on these texts, so Pier's refusals use them.
"""

from __future__ import annotations

from typing import Any

from pier.codec import json_kind
from pier.errors import InvalidParameter


def type_error(value: Any, field: str, go_type: str) -> InvalidParameter:
    return InvalidParameter(
        f"json: cannot unmarshal {json_kind(value)} into Go struct field {field} of type {go_type}"
    )


def number_error(value: float, field: str, go_type: str) -> InvalidParameter:
    """A number the integer type cannot hold (a fraction, a sign an unsigned type has
    not): Go names the literal."""
    literal = repr(value) if isinstance(value, float) else str(value)
    return InvalidParameter(
        f"json: cannot unmarshal number {literal} into Go struct field {field} of type {go_type}"
    )


def integer(value: Any, field: str, go_type: str = "int", *, unsigned: bool = False) -> int:
    """A JSON number decoded into a Go integer type (null: 0)."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise type_error(value, field, go_type)
    if isinstance(value, float) or (unsigned and value < 0):
        raise number_error(value, field, go_type)
    return value


def string(value: Any, field: str) -> str:
    """A Go string (null: "")."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise type_error(value, field, "string")
    return value


def strings(value: Any, field: str) -> tuple[str, ...]:
    """A Go []string (null: empty)."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise type_error(value, field, "[]string")
    for v in value:
        if not isinstance(v, str):
            raise type_error(v, field, "string")
    return tuple(value)


def boolean(value: Any, field: str) -> bool:
    """A Go bool (null: false)."""
    if value is not None and not isinstance(value, bool):
        raise type_error(value, field, "bool")
    return bool(value)
