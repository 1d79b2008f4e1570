import pytest

from pier.build.changes import apply_changes
from pier.errors import InvalidParameter
from pier.oci.image import ImageConfig


def apply(*changes: str) -> ImageConfig:
    return apply_changes(ImageConfig(), changes)


def test_cmd_json_and_shell_forms() -> None:
    assert apply('CMD ["sh", "-c", "x"]').cmd == ("sh", "-c", "x")
    assert apply("CMD echo hi").cmd == ("/bin/sh", "-c", "echo hi")
    assert apply("cmd [not json").cmd == ("/bin/sh", "-c", "[not json")


def test_entrypoint_resets_cmd_unless_set_after() -> None:
    base = ImageConfig(cmd=("old",))
    assert apply_changes(base, ['ENTRYPOINT ["/e"]']).cmd is None
    both = apply_changes(base, ['CMD ["c"]', 'ENTRYPOINT ["/e"]'])
    assert both.cmd == ("c",)
    assert both.entrypoint == ("/e",)


def test_env_forms_and_expansion() -> None:
    c = apply('ENV A=1 B="two words" C=$A', "ENV D legacy value", "ENV A=3")
    assert c.env == ("A=3", "B=two words", "C=", "D=legacy value")
    c = apply("ENV A=1", "ENV B=${A}x C='$A'")
    assert c.env == ("A=1", "B=1x", "C=$A")


def test_label_expose_volume_user_workdir_stopsignal() -> None:
    c = apply(
        'LABEL a=b "c d"=e',
        "EXPOSE 80 53/udp 8000-8001",
        'VOLUME ["/data", "/logs"]',
        "VOLUME /more",
        "USER app:app",
        "WORKDIR /srv",
        "WORKDIR sub/../app",
        "STOPSIGNAL SIGQUIT",
        "ONBUILD RUN echo hi",
    )
    assert dict(c.labels) == {"a": "b", "c d": "e"}
    assert c.exposed_ports == ("53/udp", "80/tcp", "8000/tcp", "8001/tcp")
    assert c.volumes == ("/data", "/logs", "/more")
    assert c.user == "app:app"
    assert c.working_dir == "/srv/app"
    assert c.stop_signal == "SIGQUIT"
    assert c.on_build == ("RUN echo hi",)


def test_healthcheck() -> None:
    c = apply("HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://x/")
    assert dict(c.healthcheck or {}) == {
        "Interval": 5_000_000_000,
        "Retries": 3,
        "Test": ["CMD-SHELL", "curl -f http://x/"],
    }
    assert dict(apply("HEALTHCHECK NONE").healthcheck or {}) == {"Test": ["NONE"]}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("RUN echo", "RUN is not a valid change command"),
        ("FROM busybox", "FROM is not a valid change command"),
        ("ENV A", "ENV must have two arguments"),
        ("STOPSIGNAL NOPE", "Invalid signal: NOPE"),
        ("EXPOSE 99999", "invalid containerPort: 99999"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ],
    ids=["run", "from", "env-one-arg", "signal", "port", "onbuild-chain", "onbuild-from"],
)
def test_invalid_changes(change: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        apply(change)
    assert str(info.value) == message
