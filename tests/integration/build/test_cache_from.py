"""`--cache-from` as dockerd's classic builder (moby's image/cache): an image that came
from elsewhere (saved, removed, loaded: no parent chain, no build cache) gives every
step of a matching Dockerfile, and the build ends on that very image; a source that is
not here is skipped; with sources, the builder's own cache counts only for their
ancestors; a changed COPY input stops the matching from that step on."""

from __future__ import annotations

import io
import json
import tarfile

from pier_testing.build import build, leftovers, run_output
from pier_testing.daemon import PierDaemon

DOCKERFILE = """FROM busybox
COPY a.txt /a.txt
RUN echo one > /one
ENV STEP=4
COPY b.txt /b.txt
RUN cat /b.txt /a.txt > /c.txt
CMD ["sh"]
"""


def _files(b: str = "b0\n") -> dict[str, str]:
    return {"Dockerfile": DOCKERFILE, "a.txt": "a\n", "b.txt": b}


def _cached_steps(text: str) -> list[str]:
    steps = text.split("Step ")[1:]
    return [s.split(" :")[0] for s in steps if " ---> Using cache" in s]


def _from_elsewhere(pier: PierDaemon, ref: str) -> str:
    """Save `ref`, remove it and the build's intermediate images, load it back."""
    archive = pier.client.request("GET", f"/images/{ref}/get").read()
    pier.client.delete(f"/images/{ref}")
    pier.client.request(
        "POST", "/images/load", body=archive, headers={"Content-Type": "application/x-tar"}
    ).read()
    return str(pier.client.get_json(f"/images/{ref}/json")["Id"])


def test_a_loaded_image_is_the_cache_of_every_step(pier: PierDaemon) -> None:
    first = build(pier, _files(), t="source:1").ok()
    loaded = _from_elsewhere(pier, "source:1")
    assert loaded == first.image_id

    without = build(pier, _files()).ok()
    assert _cached_steps(without.text) == []  # nothing links the loaded image to its steps

    again = build(pier, _files(), cachefrom=json.dumps(["source:1"])).ok()
    assert _cached_steps(again.text) == ["2/7", "3/7", "4/7", "5/7", "6/7", "7/7"]
    assert " ---> Running in" not in again.text
    assert again.image_id == first.image_id
    assert run_output(pier, again.image_id, "cat", "/c.txt") == "b0\na\n"
    assert leftovers(pier) == []


def test_a_changed_input_stops_the_match_at_its_step(pier: PierDaemon) -> None:
    build(pier, _files(), t="source:2").ok()
    _from_elsewhere(pier, "source:2")
    changed = build(pier, _files("b1\n"), cachefrom=json.dumps(["source:2"])).ok()
    assert _cached_steps(changed.text) == ["2/7", "3/7", "4/7"]
    assert run_output(pier, changed.image_id, "cat", "/c.txt") == "b1\na\n"
    # The restored steps carry the configs their steps make: the result is the image
    # a build without any cache makes.
    fresh = build(pier, _files("b1\n"), nocache=1).ok()
    config = pier.client.get_json(f"/images/{changed.image_id}/json")["Config"]
    assert config == pier.client.get_json(f"/images/{fresh.image_id}/json")["Config"]
    history = pier.client.get_json(f"/images/{changed.image_id}/history")
    assert len(history) == len(pier.client.get_json("/images/busybox/history")) + 6


def test_missing_sources_are_skipped_and_local_cache_needs_a_source(pier: PierDaemon) -> None:
    first = build(pier, _files("local\n")).ok()
    missing = build(pier, _files("local\n"), cachefrom=json.dumps(["not-here:1"])).ok()
    # With sources, a local hit counts only when it is an ancestor of one: none here.
    assert _cached_steps(missing.text) == []
    assert missing.image_id != first.image_id
    local = build(pier, _files("local\n")).ok()
    assert len(_cached_steps(local.text)) == 6


def _without_last_layers(archive: bytes, drop: int) -> bytes:
    """`archive` (docker save) as a Docker-format archive whose image keeps its history
    but loses its last `drop` layers: a history naming more layers than the image has."""
    with tarfile.open(fileobj=io.BytesIO(archive)) as tf:
        members = {m.name: tf.extractfile(m) for m in tf.getmembers() if m.isfile()}
        data = {name: f.read() for name, f in members.items() if f is not None}
    [entry] = json.loads(data["manifest.json"])
    config = json.loads(data[entry["Config"]])
    config["rootfs"]["diff_ids"] = config["rootfs"]["diff_ids"][:-drop]
    entry["Layers"] = entry["Layers"][:-drop]
    entry["Config"] = "odd-config.json"
    out = {
        "manifest.json": json.dumps([entry]).encode(),
        "odd-config.json": json.dumps(config).encode(),
    }
    out.update({name: data[name] for name in entry["Layers"]})
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, body in out.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


def test_a_source_whose_history_names_more_layers_than_it_has_is_not_used(
    pier: PierDaemon,
) -> None:
    build(pier, _files("odd\n"), t="source:odd").ok()
    archive = pier.client.request("GET", "/images/source:odd/get").read()
    pier.client.delete("/images/source:odd")
    loaded = pier.client.request(
        "POST",
        "/images/load",
        body=_without_last_layers(archive, 2),
        headers={"Content-Type": "application/x-tar"},
    ).read()
    assert b"errorDetail" not in loaded, loaded
    assert len(pier.client.get_json("/images/source:odd/json")["RootFS"]["Layers"]) == 3

    # Its fifth step's layer would be the fourth of three: the image is no source at
    # all (the earlier steps are not restored from it either), and the build goes on.
    built = build(pier, _files("odd\n"), cachefrom=json.dumps(["source:odd"])).ok()
    assert _cached_steps(built.text) == []
    assert run_output(pier, built.image_id, "cat", "/c.txt") == "odd\na\n"
    assert leftovers(pier) == []
