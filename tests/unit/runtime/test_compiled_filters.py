"""Which seccomp sections get a compiled filter handed over (pure logic)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from pier.runtime.crunstate import SECCOMP_ANNOTATION, CompiledFilters

SECTION = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
}


def _config(section: Any = SECTION, **extra: Any) -> dict[str, Any]:
    return {"linux": {"seccomp": section}, **extra}


def _learnt(tmp_path: Path, filters: CompiledFilters, config: dict[str, Any], bpf: bytes) -> None:
    changed, key = filters.annotate("/usr/bin/crun", config)
    assert (changed, key is not None) == (False, True)
    assert key is not None
    (tmp_path / "seccomp.bpf").write_bytes(bpf)
    filters.learn(key, tmp_path)


def test_a_learnt_filter_is_handed_to_the_same_section_only(tmp_path: Path) -> None:
    filters = CompiledFilters()
    _learnt(tmp_path, filters, _config(), b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    again = _config(annotations={"user": "kept"})
    assert filters.annotate("/usr/bin/crun", again) == (True, None)
    assert again["annotations"] == {
        "user": "kept",
        SECCOMP_ANNOTATION: base64.b64encode(b"\x06\x00\x00\x00\x00\x00\xff\x7f").decode(),
    }
    # Key order does not matter; another section, or another runtime binary, does.
    reordered = _config({"syscalls": SECTION["syscalls"], "defaultAction": "SCMP_ACT_ERRNO"})
    assert filters.annotate("/usr/bin/crun", reordered)[0] is True
    other = _config({**SECTION, "defaultAction": "SCMP_ACT_ALLOW"})
    assert filters.annotate("/usr/bin/crun", other) == (False, filters._key("/usr/bin/crun", other))
    assert "annotations" not in other
    assert filters.annotate("/opt/crun", _config())[0] is False


def test_sections_crun_must_compile_itself_get_no_key(tmp_path: Path) -> None:
    filters = CompiledFilters()
    notify = {**SECTION, "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}]}
    for config in (
        {"linux": {}},
        _config({**SECTION, "listenerPath": "/run/agent.sock"}),
        _config(notify),
        _config(annotations={SECCOMP_ANNOTATION: "AAAAAAAAAAA="}),
    ):
        before = repr(config)
        assert filters.annotate("/usr/bin/crun", config) == (False, None)
        assert repr(config) == before


def test_only_whole_programs_are_kept(tmp_path: Path) -> None:
    filters = CompiledFilters()
    _learnt(tmp_path, filters, _config(), b"\x06\x00\x00")  # not 8-byte instructions
    assert filters.annotate("/usr/bin/crun", _config())[0] is False
    missing = CompiledFilters()
    _, key = missing.annotate("/usr/bin/crun", _config())
    assert key is not None
    missing.learn(key, tmp_path / "nowhere")  # crun kept none: nothing learnt
    assert missing.annotate("/usr/bin/crun", _config())[0] is False


def test_the_oldest_filter_goes_past_the_bound(tmp_path: Path) -> None:
    filters = CompiledFilters(keep=2)
    configs = [_config({**SECTION, "defaultAction": f"SCMP_ACT_ERRNO{i}"}) for i in range(3)]
    for config in configs:
        _learnt(tmp_path, filters, config, b"\x06\x00\x00\x00\x00\x00\xff\x7f")
    assert [filters.annotate("/usr/bin/crun", c)[0] for c in configs] == [False, True, True]
