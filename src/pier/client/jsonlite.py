"""JSON without importing `json`.

`import json` drags in `re` and `enum` (about 8 ms here, a third of the CLI's
start budget). The C accelerator `_json` that `json` itself uses is built into the
interpreter, so decoding goes through its scanner and encoding is a short
recursive function over its string escaper.

`indent` re-indents raw JSON text the way Go's `json.Indent` does, which is how
`docker inspect` prints what the daemon sent: key order and string escapes are kept.
"""

from __future__ import annotations

import _json

# typing and collections.abc cost milliseconds at start-up: only the checker reads them.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


class JSONError(ValueError):
    """The text is not valid JSON."""


class _ScanContext:
    # The attributes the C scanner reads from its context (json.decoder.JSONDecoder).
    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = float
    memo: dict[str, str]

    def __init__(self) -> None:
        self.memo = {}


_WS = " \t\n\r"


def loads(text: str | bytes) -> Any:
    """Decode one JSON document (surrounding whitespace allowed)."""
    if isinstance(text, bytes | bytearray):
        text = bytes(text).decode("utf-8")
    scanner = _json.make_scanner(_ScanContext())  # type: ignore[arg-type]
    start = 0
    n = len(text)
    while start < n and text[start] in _WS:
        start += 1
    try:
        value, end = scanner(text, start)
    except StopIteration as exc:
        raise JSONError(f"invalid JSON at offset {exc.value}") from None
    except ValueError as exc:
        raise JSONError(str(exc)) from exc
    while end < n and text[end] in _WS:
        end += 1
    if end != n:
        raise JSONError(f"extra data at offset {end}")
    return value


def _go_string(s: str, html: bool) -> str:
    out: str = _json.encode_basestring(s)
    # Go always escapes the two JavaScript line terminators, and <>& unless told not to.
    out = out.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    if html:
        out = out.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return out


def _encode(obj: Any, parts: list[str], html: bool) -> None:
    if isinstance(obj, str):
        parts.append(_go_string(obj, html))
    elif obj is None:
        parts.append("null")
    elif obj is True:
        parts.append("true")
    elif obj is False:
        parts.append("false")
    elif isinstance(obj, int):
        parts.append(str(obj))
    elif isinstance(obj, float):
        parts.append(str(int(obj)) if obj.is_integer() and abs(obj) < 1e21 else repr(obj))
    elif isinstance(obj, dict):
        parts.append("{")
        first = True
        for key, value in obj.items():
            if not first:
                parts.append(",")
            first = False
            parts.append(_go_string(str(key), html))
            parts.append(":")
            _encode(value, parts, html)
        parts.append("}")
    elif isinstance(obj, list | tuple):
        parts.append("[")
        for i, value in enumerate(obj):
            if i:
                parts.append(",")
            _encode(value, parts, html)
        parts.append("]")
    else:
        raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


def dumps(obj: Any, *, html_escape: bool = False) -> str:
    """Compact JSON as Go's encoder writes it (UTF-8 kept, `<>&` escaped on request)."""
    parts: list[str] = []
    _encode(obj, parts, html_escape)
    return "".join(parts)


def indent(raw: str, step: str = "    ") -> str:
    """Re-indent compact or spaced JSON text like Go's json.Indent (prefix "")."""
    out: list[str] = []
    depth = 0
    # Go delays the newline after an opening bracket so that [] and {} stay compact.
    need_indent = False
    i = 0
    n = len(raw)
    while i < n:
        c = raw[i]
        if c in _WS:
            i += 1
            continue
        if need_indent and c not in "]}":
            need_indent = False
            depth += 1
            out.append("\n" + step * depth)
        if c == '"':
            j = i + 1
            while j < n:
                if raw[j] == "\\":
                    j += 2
                    continue
                if raw[j] == '"':
                    break
                j += 1
            out.append(raw[i : j + 1])
            i = j + 1
            continue
        if c in "[{":
            out.append(c)
            need_indent = True
        elif c in "]}":
            if need_indent:
                need_indent = False
            else:
                depth -= 1
                out.append("\n" + step * depth)
            out.append(c)
        elif c == ",":
            out.append(",\n" + step * depth)
        elif c == ":":
            out.append(": ")
        else:
            out.append(c)
        i += 1
    return "".join(out)
