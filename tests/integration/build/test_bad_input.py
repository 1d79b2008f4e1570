"""Builds that must fail: Docker's status or stream error and wording, no image or tag
made, and nothing left behind (no build snapshot, no private directory, no running
container; through the leak check no mount, process or cgroup)."""

from __future__ import annotations

import io
import socket
import tarfile

import pytest

from pier_testing.build import build, leftovers
from pier_testing.daemon import PierDaemon


def _no_tag(pier: PierDaemon, ref: str = "bad:1") -> None:
    tags = [t for i in pier.client.get_json("/images/json") for t in i.get("RepoTags") or []]
    assert ref not in tags


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("dockerfile", "message"),
    [
        (
            "FROM busybox\nRUNN echo\n",
            "dockerfile parse error on line 2: unknown instruction: RUNN (did you mean RUN?)",
        ),
        (
            "FROM busybox\nxyzzy bar\n",
            "dockerfile parse error on line 2: unknown instruction: xyzzy",
        ),
        ("", "the Dockerfile (Dockerfile) cannot be empty"),
        (
            "# only a comment\n",
            "failed to parse Dockerfile: dockerfile parse error on line 1: "
            "file with no instructions",
        ),
        (
            "FROM busybox\nCOPY --nope=1 a /\n",
            "dockerfile parse error on line 2: unknown flag: --nope",
        ),
        (
            "FROM busybox\nENV\n",
            "dockerfile parse error on line 2: ENV requires at least one argument",
        ),
        (
            "FROM busybox\nRUN <<EOF\necho\n",
            "failed to parse Dockerfile: dockerfile parse error on line 2: unterminated heredoc",
        ),
        (
            "FROM a b\n",
            "dockerfile parse error on line 1: FROM requires either one or three arguments",
        ),
        ("RUN true\n", "no build stage in current context"),
    ],
    ids=[
        "suggest",
        "unknown",
        "empty",
        "no-instructions",
        "flag",
        "env",
        "heredoc",
        "from",
        "stage",
    ],
)
def test_parse_errors_are_400s_with_the_line(
    pier: PierDaemon, dockerfile: str, message: str
) -> None:
    out = build(pier, {"Dockerfile": dockerfile}, t="bad:1")
    assert (out.status, out.lines[0]["message"]) == (400, message)
    _no_tag(pier)
    assert leftovers(pier) == []


def test_missing_dockerfile(pier: PierDaemon) -> None:
    out = build(pier, {"a": "b"}, dockerfile="Nope")
    assert (out.status, out.lines[0]["message"]) == (
        400,
        "Cannot locate specified Dockerfile: Nope",
    )


def test_failing_run_reports_code_and_output(pier: PierDaemon) -> None:
    df = "FROM busybox\nRUN echo visible-output && exit 3\n"
    out = build(pier, {"Dockerfile": df}, t="bad:1")
    assert out.status == 200
    assert "visible-output\n" in out.text
    message = "The command '/bin/sh -c echo visible-output && exit 3' returned a non-zero code: 3"
    assert out.error == {"errorDetail": {"code": 3, "message": message}, "error": message}
    _no_tag(pier)
    assert leftovers(pier) == []
    # As dockerd: the failed step's container stays (stopped) without forcerm...
    kept = pier.client.get_json("/containers/json", all=1)
    assert len(kept) == 1 and kept[0]["State"] == "exited"
    pier.remove_all_containers()
    # ...and goes with it.
    build(pier, {"Dockerfile": df}, forcerm=1)
    assert pier.client.get_json("/containers/json", all=1) == []


def test_rm_false_keeps_intermediate_containers(pier: PierDaemon) -> None:
    out = build(pier, {"Dockerfile": "FROM busybox\nRUN echo kept > /k\n"}, rm=0, nocache=1).ok()
    assert "Removed intermediate container" not in out.text
    assert len(pier.client.get_json("/containers/json", all=1)) == 1
    pier.remove_all_containers()


def test_missing_copy_source(pier: PierDaemon) -> None:
    out = build(pier, {"Dockerfile": "FROM busybox\nCOPY missing.txt /\n"}, t="bad:1")
    assert out.error is not None
    assert out.error["error"] == (
        "COPY failed: file not found in build context or excluded by .dockerignore: "
        "stat missing.txt: file does not exist"
    )
    _no_tag(pier)
    assert leftovers(pier) == []


def test_unknown_base_image(pier: PierDaemon) -> None:
    # Not here, and its registry (on loopback) does not answer: the pull's error.
    ref = f"127.0.0.1:{_closed_port()}/nosuchimage:1"
    out = build(pier, {"Dockerfile": f"FROM {ref}\n"}, t="bad:1")
    assert out.error is not None
    assert "Step 1/1 : FROM " + ref in out.text
    assert "connect" in out.error["error"].lower()
    _no_tag(pier)
    assert leftovers(pier) == []


def test_symlink_outside_the_context_leads_nowhere(pier: PierDaemon) -> None:
    files = {
        "Dockerfile": "FROM busybox\nCOPY evil /evil\n",
        "evil": ("symlink", "/etc/shadow"),
    }
    out = build(pier, files, t="bad:1")
    assert out.error is not None
    assert "file not found in build context" in out.error["error"]
    _no_tag(pier)
    # A symlink inside the context is followed inside it.
    files = {
        "Dockerfile": "FROM busybox\nCOPY link /x\n",
        "target": "inside",
        "link": ("symlink", "/target"),
    }
    build(pier, files).ok()


def test_context_entry_escaping_its_root(pier: PierDaemon) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in (("Dockerfile", b"FROM busybox\n"), ("../escape", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out = build(pier, buf.getvalue(), t="bad:1")
    assert (out.status, out.lines[0]["message"]) == (
        400,
        'invalid build context: "../escape" is outside of the context',
    )
    assert not (pier.base / "escape").exists() and not (pier.data_root / "tmp" / "escape").exists()
    assert leftovers(pier) == []


def test_add_of_a_url_that_does_not_answer(pier: PierDaemon) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/file.txt"
    out = build(pier, {"Dockerfile": f"FROM busybox\nADD {url} /f\n"}, t="bad:1")
    assert out.error is not None
    assert out.error["error"] == f'Get "{url}": [Errno 111] Connection refused'
    _no_tag(pier)
    assert leftovers(pier) == []


def test_bad_query_parameters(pier: PierDaemon) -> None:
    df = {"Dockerfile": "FROM busybox\n"}
    assert build(pier, df, squash=1).lines[0]["message"] == (
        "squash is only supported with experimental mode"
    )
    assert build(pier, df, version="3").lines[0]["message"] == 'invalid version "3"'
    out = build(pier, df, buildargs="{not json")
    assert out.status == 400 and out.lines[0]["message"].startswith("error reading build args")
