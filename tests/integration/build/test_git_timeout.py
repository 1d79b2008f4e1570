"""A git clone for a build (a git context, ADD <git URL>) that gets no answer is given
up after its timeout as a failed fetch: InvalidParameter (400) naming the URL and the
timeout, the clone's processes killed and its half-made directory removed. The server
here is a loopback socket that takes connections and never says a word; the timeout
is the clone's parameter, set to half a second (pierd uses 300 s)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from pier.build.remote import git_clone
from pier.errors import InvalidParameter
from pier_testing.procs import mentioning


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port whose connections complete (the kernel's backlog) but are never read."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


def _processes_naming(text: str) -> list[int]:
    return mentioning(text)


@pytest.mark.parametrize(
    ("what", "prefix"),
    [
        ("", "unable to prepare context: unable to 'git clone' to temporary context directory"),
        ("failed to fetch {url}", "failed to fetch {url}"),
    ],
)
def test_a_clone_without_an_answer_times_out_as_a_failed_fetch(
    tmp_path: Path, silent_server: int, what: str, prefix: str
) -> None:
    url = f"git://127.0.0.1:{silent_server}/repo.git"
    dest = tmp_path / "checkout"
    with pytest.raises(InvalidParameter) as raised:
        git_clone(f"{url}#main", dest, what=what.format(url=url), timeout=0.5)
    assert str(raised.value) == (
        f"{prefix.format(url=url)}: error fetching {url}: no answer within 0.5 s (timed out)"
    )
    assert raised.value.status == 400
    assert not dest.exists()
    assert _processes_naming(str(dest)) == []
