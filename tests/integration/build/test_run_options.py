"""RUN's options: --mount (bind from the context and from a stage, a cache that
persists between builds and goes with prune, tmpfs), --network, a heredoc script
with its own interpreter line; and what the legacy API cannot do (secrets)."""

from __future__ import annotations

from pier_testing.build import build, run_output
from pier_testing.daemon import PierDaemon


def test_bind_mounts_read_the_context_and_stages(pier: PierDaemon) -> None:
    dockerfile = """FROM busybox AS tools
RUN echo from-stage > /tool
FROM busybox
RUN --mount=type=bind,source=data,target=/in cat /in/x > /copied
RUN --mount=type=bind,from=tools,source=/tool,target=/t cat /t > /tool-copy
RUN --mount=target=/ctx ls /ctx > /listing
RUN --mount=type=bind,target=/ro touch /ro/nope 2>/dev/null || echo read-only > /ro-result
"""
    files = {"Dockerfile": dockerfile, "data/x": "in-the-context\n"}
    out = build(pier, files).ok()
    text = run_output(pier, out.image_id, "cat", "/copied", "/tool-copy", "/listing", "/ro-result")
    assert text == "in-the-context\nfrom-stage\nDockerfile\ndata\nread-only\n"
    # The mounted files are not in the image.
    assert run_output(pier, out.image_id, "ls", "/in").strip() == ""


def test_cache_mount_persists_and_prune_empties_it(pier: PierDaemon) -> None:
    def counter(tag: str) -> str:
        df = (
            "FROM busybox\n"
            f"RUN --mount=type=cache,target=/cache,id=counter echo {tag} >> /cache/runs "
            "&& cat /cache/runs > /seen\n"
        )
        out = build(pier, {"Dockerfile": df}).ok()
        return run_output(pier, out.image_id, "cat", "/seen")

    assert counter("one") == "one\n"
    assert counter("two") == "one\ntwo\n"
    report = pier.client.post_json("/build/prune")
    assert report["SpaceReclaimed"] > 0
    assert counter("three") == "three\n"


def test_tmpfs_mount_and_network_none(pier: PierDaemon) -> None:
    dockerfile = """FROM busybox
RUN --mount=type=tmpfs,target=/scratch echo gone > /scratch/f && ls /scratch > /seen
RUN --network=none ip -o link | cut -d: -f2 | tr -d ' ' > /links
"""
    out = build(pier, {"Dockerfile": dockerfile}).ok()
    assert run_output(pier, out.image_id, "cat", "/seen", "/links") == "f\nlo\n"
    assert run_output(pier, out.image_id, "ls", "/scratch") == ""


def test_heredoc_with_an_interpreter_line(pier: PierDaemon) -> None:
    dockerfile = 'FROM busybox\nRUN <<EOF\n#!/bin/sh -e\necho "script $0" > /ran\nEOF\n'
    out = build(pier, {"Dockerfile": dockerfile}).ok()
    assert run_output(pier, out.image_id, "cat", "/ran") == "script /dev/pipes/EOF\n"


def test_secret_mounts_are_refused(pier: PierDaemon) -> None:
    out = build(pier, {"Dockerfile": "FROM busybox\nRUN --mount=type=secret,id=x true\n"})
    assert out.error is not None
    assert "needs a BuildKit session" in out.error["error"]


def test_container_options_of_run_steps_and_several_tags(pier: PierDaemon) -> None:
    """shmsize, ulimits, extrahosts and memory reach the RUN containers (as dockerd's
    classic builder passes its HostConfig); every t= tags the result."""
    dockerfile = """FROM busybox
RUN df -k /dev/shm | tail -1 | awk '{print $2}' > /shm \\
 && ulimit -n > /nofile \\
 && grep pier-build-host /etc/hosts > /hosts \\
 && cat /sys/fs/cgroup/memory/memory.limit_in_bytes > /memory 2>/dev/null \\
 || cat /sys/fs/cgroup/memory.max > /memory
"""
    out = build(
        pier,
        {"Dockerfile": dockerfile},
        shmsize=str(32 * 1024 * 1024),
        ulimits='[{"Name": "nofile", "Soft": 1234, "Hard": 1234}]',
        extrahosts="pier-build-host:10.1.2.3",
        memory=str(256 * 1024 * 1024),
        t=("several:1", "several:2"),
    ).ok()
    text = run_output(pier, out.image_id, "cat", "/shm", "/nofile", "/hosts", "/memory")
    assert text.split() == ["32768", "1234", "10.1.2.3", "pier-build-host", str(256 * 1024 * 1024)]
    for tag in ("several:1", "several:2"):
        assert pier.client.get_json(f"/images/{tag}/json")["Id"] == out.image_id
