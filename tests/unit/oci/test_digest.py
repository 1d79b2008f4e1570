import hashlib
import io

import pytest

from pier.errors import InvalidParameter
from pier.oci import digest as d


def test_from_bytes_and_file() -> None:
    data = b"hello"
    want = "sha256:" + hashlib.sha256(data).hexdigest()
    assert d.from_bytes(data) == want
    assert d.from_file(io.BytesIO(data)) == (want, 5)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("sha256:abc", "invalid checksum digest length"),
        ("md5:" + "a" * 32, "unsupported digest algorithm"),
        ("nonsense", "invalid checksum digest format"),
    ],
    ids=["short", "algorithm", "format"],
)
def test_validate_rejects(value: str, message: str) -> None:
    with pytest.raises(InvalidParameter, match=message):
        d.validate(value)


def test_chain_ids_follow_the_spec() -> None:
    a, b = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    chain = d.chain_ids([a, b])
    assert chain[0] == a
    assert chain[1] == "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()


def test_short_id() -> None:
    assert d.short_id("sha256:0123456789abcdef" + "0" * 48) == "0123456789ab"
