"""Multi-stage builds: COPY --from a stage (by name and by index) and from an image,
--target stopping at a stage, stages the target does not need skipped, and two
independent stages built at the same time."""

from __future__ import annotations

from pier_testing.build import build, run_output
from pier_testing.daemon import PierDaemon
from pier_testing.ports import free_port


def test_copy_from_stages_and_target(pier: PierDaemon) -> None:
    dockerfile = """FROM busybox AS first
RUN echo made-in-first > /artifact
FROM busybox AS unused
RUN echo never > /never
FROM busybox
COPY --from=first /artifact /from-name
COPY --from=0 /artifact /from-index
COPY --from=busybox /etc/group /from-image
"""
    full = build(pier, {"Dockerfile": dockerfile}).ok()
    # The stage nobody uses is skipped: 1 + 1 for `first`, 1 + 3 for the last.
    assert "Step 6/6 : COPY --from=busybox /etc/group /from-image" in full.text
    assert "never" not in full.text
    out = run_output(pier, full.image_id, "cat", "/from-name", "/from-index", "/from-image")
    assert out.count("made-in-first") == 2 and "www-data" in out

    target = build(pier, {"Dockerfile": dockerfile}, target="unused").ok()
    assert "Step 2/2 : RUN echo never > /never" in target.text
    assert "made-in-first" not in target.text
    assert run_output(pier, target.image_id, "cat", "/never").strip() == "never"

    missing = build(pier, {"Dockerfile": dockerfile}, target="nope")
    assert missing.status == 400
    assert missing.lines[0]["message"] == 'target stage "nope" could not be found'


def test_independent_stages_overlap(pier: PierDaemon) -> None:
    """A barrier only a concurrent builder passes: stage `server` waits (up to 60 s)
    for a connection that stage `client` makes, both on the host network. Built one
    after the other, `server` would time out and fail the build."""
    port = free_port()
    dockerfile = f"""FROM busybox AS server
RUN timeout 60 nc -l -p {port} > /got && cat /got
FROM busybox AS client
RUN for i in $(seq 600); do echo hello | nc 127.0.0.1 {port} && exit 0; usleep 99999; done; exit 1
FROM busybox
COPY --from=server /got /server-got
COPY --from=client /etc/group /client-done
"""
    # Success is the proof: `server` exits 0 only once it accepted a connection, and
    # `client` only once it connected (each gives up after 60 s and fails the build).
    done = build(pier, {"Dockerfile": dockerfile}, networkmode="host", nocache=1).ok()
    assert "Removed intermediate container" in done.text
    # Output still reads stage after stage.
    text = done.text
    assert text.index("Step 1/7 : FROM busybox AS server") < text.index(
        "Step 3/7 : FROM busybox AS client"
    )
    assert text.index("Step 3/7") < text.index("Step 5/7 : FROM busybox")
