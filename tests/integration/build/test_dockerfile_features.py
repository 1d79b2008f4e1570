"""What a Dockerfile can say, built for real: .dockerignore, build args (global ARGs in
FROM, defaults, --build-arg, the unused warning), heredocs (RUN and COPY), ONBUILD
triggers, and the history and config of the result as dockerd's classic builder
writes them."""

from __future__ import annotations

import json

from pier_testing.build import build, run_output
from pier_testing.daemon import PierDaemon


def test_dockerignore(pier: PierDaemon) -> None:
    files = {
        "Dockerfile": "FROM busybox\nCOPY . /ctx/\n",
        ".dockerignore": "# comment\n*.log\n**/secret*\n!keep.log\nDockerfile\nbuild/\n",
        "a.txt": "a",
        "x.log": "x",
        "keep.log": "k",
        "sub/secret.txt": "s",
        "sub/deep/secret-2": "s",
        "sub/ok.txt": "o",
        "build/out": "o",
    }
    out = build(pier, files).ok()
    listing = run_output(pier, out.image_id, "find", "/ctx").split()
    # The Dockerfile is listed, so it is dropped from the context (and still used);
    # .dockerignore itself is not listed, so it stays.
    assert sorted(listing) == [
        "/ctx",
        "/ctx/.dockerignore",
        "/ctx/a.txt",
        "/ctx/keep.log",
        "/ctx/sub",
        "/ctx/sub/deep",
        "/ctx/sub/ok.txt",
    ]


def test_build_args(pier: PierDaemon) -> None:
    dockerfile = """ARG BASE=busybox
ARG TAG
FROM ${BASE}:${TAG:-latest}
ARG GREETING=hello
ARG WHO
ARG TARGETOS
ENV FROM_ENV=${GREETING}
RUN echo "$GREETING ${WHO:-nobody} $TARGETOS $FROM_ENV" > /out
"""
    args = json.dumps({"WHO": "pier", "UNUSED": "x"})
    out = build(pier, {"Dockerfile": dockerfile}, buildargs=args).ok()
    assert "Step 1/8 : ARG BASE=busybox" in out.text
    assert "[Warning] One or more build-args [UNUSED] were not consumed" in out.text
    assert run_output(pier, out.image_id, "cat", "/out") == "hello pier linux hello\n"
    hist = pier.client.get_json(f"/images/{out.image_id}/history")
    assert hist[0]["CreatedBy"].startswith(
        "|3 GREETING=hello TARGETOS=linux WHO=pier /bin/sh -c echo"
    )
    # Build arguments are not in the image's environment.
    env = pier.client.get_json(f"/images/{out.image_id}/json")["Config"]["Env"]
    assert "FROM_ENV=hello" in env and not any(e.startswith("WHO=") for e in env)
    other = build(pier, {"Dockerfile": dockerfile}, buildargs=json.dumps({"WHO": "x"})).ok()
    assert run_output(pier, other.image_id, "cat", "/out") == "hello x linux hello\n"


HEREDOCS = """FROM busybox
ENV NAME=pier
RUN <<EOF
echo first > /one
echo second >> /one
EOF
COPY <<EOF /greeting
hello $NAME
EOF
COPY <<'EOF' /raw
hello $NAME
EOF
RUN cat <<A > /two && cat <<-B >> /two
a-content
A
\tb-content
\tB
"""


def test_heredocs(pier: PierDaemon) -> None:
    out = build(pier, {"Dockerfile": HEREDOCS}).ok()
    text = run_output(pier, out.image_id, "cat", "/one", "/greeting", "/raw", "/two")
    assert text == "first\nsecond\nhello pier\nhello $NAME\na-content\nb-content\n"


def test_onbuild_triggers(pier: PierDaemon) -> None:
    base = build(
        pier,
        {"Dockerfile": "FROM busybox\nONBUILD RUN echo triggered > /t\nONBUILD COPY f /f\n"},
        t="onbuild-base:1",
    ).ok()
    config = pier.client.get_json(f"/images/{base.image_id}/json")["Config"]
    assert config["OnBuild"] == ["RUN echo triggered > /t", "COPY f /f"]
    child = build(pier, {"Dockerfile": "FROM onbuild-base:1\n", "f": "file"}).ok()
    assert "# Executing 2 build triggers" in child.text
    assert run_output(pier, child.image_id, "cat", "/t", "/f") == "triggered\nfile"
    assert not pier.client.get_json(f"/images/{child.image_id}/json")["Config"].get("OnBuild")


CONFIG = """FROM busybox
LABEL maintainer=pier version="1 0"
ENV A=1 B="two words"
WORKDIR /srv
WORKDIR app
USER nobody
EXPOSE 80 53/udp
VOLUME ["/data"]
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --retries=3 CMD true
SHELL ["/bin/sh", "-ec"]
RUN echo shell > /tmp/x
ENTRYPOINT ["/bin/echo"]
CMD ["hi"]
"""


def test_history_and_config(pier: PierDaemon) -> None:
    out = build(pier, {"Dockerfile": CONFIG}, labels=json.dumps({"extra": "yes"})).ok()
    info = pier.client.get_json(f"/images/{out.image_id}/json")
    c = info["Config"]
    assert c["Labels"] == {"maintainer": "pier", "version": "1 0", "extra": "yes"}
    assert "A=1" in c["Env"] and "B=two words" in c["Env"]
    assert c["WorkingDir"] == "/srv/app"
    assert c["User"] == "nobody"
    assert set(c["ExposedPorts"]) == {"80/tcp", "53/udp"}
    assert set(c["Volumes"]) == {"/data"}
    assert c["StopSignal"] == "SIGQUIT"
    assert c["Healthcheck"] == {
        "Test": ["CMD-SHELL", "true"],
        "Interval": 5_000_000_000,
        "Retries": 3,
    }
    assert c["Shell"] == ["/bin/sh", "-ec"]
    assert c["Entrypoint"] == ["/bin/echo"] and c["Cmd"] == ["hi"]
    history = pier.client.get_json(f"/images/{out.image_id}/history")
    # As dockerd: every row of a classic build's chain carries its step's image ID.
    ids = [h["Id"] for h in history]
    assert ids[0] == out.image_id and ids[1] == info["Parent"]
    assert ids[-1] == pier.client.get_json("/images/busybox/json")["Id"]
    assert history[-1]["Tags"] == ["busybox:latest"]
    created_by = [h["CreatedBy"] for h in history]
    # --label's LABEL comes last; SHELL's shell runs the RUN and prefixes the comments.
    assert created_by[:4] == [
        "/bin/sh -ec #(nop)  LABEL extra=yes",
        '/bin/sh -ec #(nop)  CMD ["hi"]',
        '/bin/sh -ec #(nop)  ENTRYPOINT ["/bin/echo"]',
        "/bin/sh -ec echo shell > /tmp/x",
    ]
    assert "/bin/sh -c #(nop)  ENV A=1 B=two words" in created_by
    assert "/bin/sh -c #(nop) WORKDIR /srv/app" in created_by
    assert "/bin/sh -c #(nop)  EXPOSE 53/udp 80" in created_by
    assert "/bin/sh -c #(nop)  VOLUME [/data]" in created_by
    assert (
        '/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "5s" "0s" "0s" "0s" \'\\x03\'}'
        in created_by
    )
    # Every step is an image whose parent is the step before (the classic builder's chain).
    assert info["Parent"].startswith("sha256:")
    assert run_output(pier, out.image_id) == "hi\n"
