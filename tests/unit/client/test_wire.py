"""Pure pieces of the client: chunked decoding, frames, JSON, query strings, hosts."""

from __future__ import annotations

import pytest

from pier.client import jsonlite
from pier.client.api import encode_query, error_message, quote
from pier.client.frames import FrameDecoder, encode_frame
from pier.client.host import DEFAULT_HOST, InvalidHost, resolve_host
from pier.client.http import ChunkedDecoder

CHUNKED = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n"


@pytest.mark.parametrize("step", [1, 2, 3, 7, len(CHUNKED)], ids=lambda s: f"step{s}")
def test_chunked_any_slicing(step: int) -> None:
    dec = ChunkedDecoder()
    out = b"".join(dec.feed(CHUNKED[i : i + step]) for i in range(0, len(CHUNKED), step))
    assert out == b"hello world"
    assert dec.done


def test_frames_any_slicing() -> None:
    stream = encode_frame(1, b"out\n") + encode_frame(2, b"err\n") + encode_frame(1, b"x" * 70000)
    for step in (1, 5, 8, 9, 1000, len(stream)):
        dec = FrameDecoder()
        got: dict[int, bytes] = {1: b"", 2: b""}
        order: list[int] = []
        for i in range(0, len(stream), step):
            for fd, payload in dec.feed(stream[i : i + step]):
                got[fd] += payload
                if not order or order[-1] != fd:
                    order.append(fd)
        assert got == {1: b"out\n" + b"x" * 70000, 2: b"err\n"}
        assert order == [1, 2, 1]
        assert not dec.pending


@pytest.mark.parametrize(
    "doc",
    [{"a": [1, 2.5, None, True, False, "é\u2028<>&"], "b": {}}, [], "x", 0, {"nested": [[{}]]}],
    ids=["mixed", "empty-list", "string", "zero", "nested"],
)
def test_json_roundtrip(doc: object) -> None:
    assert jsonlite.loads(jsonlite.dumps(doc)) == doc
    assert jsonlite.loads(jsonlite.dumps(doc, html_escape=True)) == doc


def test_json_go_style() -> None:
    assert jsonlite.dumps({"k": "<é>\u2028"}) == '{"k":"<é>\\u2028"}'
    assert jsonlite.dumps({"k": "<&>"}, html_escape=True) == '{"k":"\\u003c\\u0026\\u003e"}'
    with pytest.raises(jsonlite.JSONError):
        jsonlite.loads('{"a": 1} x')
    with pytest.raises(jsonlite.JSONError):
        jsonlite.loads("{")


def test_indent_like_go() -> None:
    raw = '[{"Id": "x", "Args": [], "Env": ["A=1"], "Map": {}, "N": {"a": null}, "S": "a\\"[,]"}]'
    assert jsonlite.indent(raw) == (
        "[\n"
        "    {\n"
        '        "Id": "x",\n'
        '        "Args": [],\n'
        '        "Env": [\n'
        '            "A=1"\n'
        "        ],\n"
        '        "Map": {},\n'
        '        "N": {\n'
        '            "a": null\n'
        "        },\n"
        '        "S": "a\\"[,]"\n'
        "    }\n"
        "]"
    )
    assert jsonlite.indent("[]") == "[]"


def test_query_encoding() -> None:
    assert encode_query({"all": True, "size": False, "skip": None, "limit": 3}) == (
        "all=1&size=0&limit=3"
    )
    assert encode_query({"filters": {"status": {"exited": True}}}) == (
        "filters=%7B%22status%22%3A%7B%22exited%22%3Atrue%7D%7D"
    )
    assert encode_query({"changes": ("CMD x", "ENV a=b")}) == (
        "changes=CMD%20x&changes=ENV%20a%3Db"
    )
    assert quote("localhost:5000/a b", "/:") == "localhost:5000/a%20b"


def test_error_message() -> None:
    assert error_message(404, b'{"message":"No such container: x"}') == "No such container: x"
    assert error_message(500, b"plain text\n") == "plain text"
    assert error_message(502, b"") == "HTTP status 502"


@pytest.mark.parametrize(
    ("flag", "env", "host"),
    [
        ("unix:///a.sock", {"PIER_HOST": "unix:///b"}, "unix:///a.sock"),
        (None, {"PIER_HOST": "unix:///b", "DOCKER_HOST": "unix:///c"}, "unix:///b"),
        (None, {"DOCKER_HOST": "unix:///c"}, "unix:///c"),
        (None, {"DOCKER_HOST": "tcp://1.2.3.4:2375"}, DEFAULT_HOST),
        (None, {}, DEFAULT_HOST),
        ("/path.sock", {}, "unix:///path.sock"),
    ],
    ids=["flag", "pier-host", "docker-host", "docker-host-tcp-ignored", "default", "bare-path"],
)
def test_resolve_host(flag: str | None, env: dict[str, str], host: str) -> None:
    assert resolve_host(flag, env) == host


def test_resolve_host_rejects_tcp() -> None:
    with pytest.raises(InvalidHost):
        resolve_host("tcp://1.2.3.4:2375", {})
