import json

from pier.oci.image import ImageConfig, ImageSpec

DOCKER_CONFIG = {
    "architecture": "amd64",
    "os": "linux",
    "created": "2024-01-01T00:00:00.123456789Z",
    "config": {
        "User": "app",
        "Env": ["PATH=/usr/bin"],
        "Cmd": ["sh"],
        "Entrypoint": None,
        "WorkingDir": "/w",
        "Labels": {"a": "b"},
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "StopSignal": "SIGQUIT",
        "ArgsEscaped": True,
        "OnBuild": ["RUN x"],
    },
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "a" * 64]},
    "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "x", "empty_layer": True}],
    "moby.extra": {"k": 1},
}


def test_parse_fields() -> None:
    spec = ImageSpec.from_bytes(json.dumps(DOCKER_CONFIG).encode())
    c = spec.config
    assert c.user == "app"
    assert c.env == ("PATH=/usr/bin",)
    assert c.cmd == ("sh",)
    assert c.entrypoint is None
    assert c.working_dir == "/w"
    assert dict(c.labels) == {"a": "b"}
    assert c.exposed_ports == ("80/tcp",)
    assert c.volumes == ("/data",)
    assert c.stop_signal == "SIGQUIT"
    assert c.on_build == ("RUN x",)
    assert spec.diff_ids == ("sha256:" + "a" * 64,)
    assert spec.history[0].empty_layer


def test_round_trip_keeps_unknown_keys() -> None:
    spec = ImageSpec.from_bytes(json.dumps(DOCKER_CONFIG).encode())
    again = json.loads(spec.to_bytes())
    assert again["moby.extra"] == {"k": 1}
    assert again["config"]["ArgsEscaped"] is True
    assert ImageSpec.from_json(again) == spec


def test_empty_config() -> None:
    assert ImageConfig.from_json(None) == ImageConfig()
    assert ImageConfig().to_json() == {}
