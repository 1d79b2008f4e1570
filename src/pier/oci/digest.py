"""Content digests: `sha256:<64 hex>`, the only algorithm Pier stores."""

from __future__ import annotations

import hashlib
import re
from typing import BinaryIO

from pier.errors import InvalidParameter

_SHA256 = re.compile(r"^sha256:[a-f0-9]{64}$")
_ANY = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
_HEX64 = re.compile(r"^[a-f0-9]{64}$")

ALGORITHM = "sha256"


def is_digest(value: str) -> bool:
    return bool(_SHA256.match(value))


def is_hex_id(value: str) -> bool:
    """A bare 64-hex string (an image ID written without its algorithm)."""
    return bool(_HEX64.match(value))


def validate(value: str) -> str:
    """`value` if it is a sha256 digest; InvalidParameter in go-digest's wording if not."""
    if _SHA256.match(value):
        return value
    if not _ANY.match(value):
        raise InvalidParameter("invalid checksum digest format")
    algo = value.split(":", 1)[0]
    if algo != ALGORITHM:
        raise InvalidParameter("unsupported digest algorithm")
    raise InvalidParameter("invalid checksum digest length")


def hex_of(dgst: str) -> str:
    return validate(dgst).split(":", 1)[1]


def from_bytes(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def from_file(stream: BinaryIO, chunk: int = 1 << 20) -> tuple[str, int]:
    """Digest and size of everything left in `stream`."""
    h = hashlib.sha256()
    size = 0
    while block := stream.read(chunk):
        h.update(block)
        size += len(block)
    return "sha256:" + h.hexdigest(), size


def chain_ids(diff_ids: list[str] | tuple[str, ...]) -> list[str]:
    """ChainIDs of a layer stack, per the OCI image spec: C0 = D0, Cn = sha256(Cn-1 + " " + Dn)."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append(from_bytes(f"{out[-1]} {diff_id}".encode()))
    return out


def short_id(dgst: str) -> str:
    """Docker's 12-character form (stringid.TruncateID): algorithm dropped."""
    return dgst.split(":", 1)[-1][:12]
