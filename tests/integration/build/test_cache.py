"""The layer cache: a second build is all cache hits with the same image ID; a changed
COPY input rebuilds from that step on; the cache survives a pierd restart and is
cleared by /build/prune; --no-cache builds every step."""

from __future__ import annotations

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


def _hits(text: str) -> int:
    return text.count(" ---> Using cache")


def test_second_build_is_all_cache_and_same_id(pier: PierDaemon) -> None:
    first = build(pier, _files(), t="cached:1").ok()
    assert _hits(first.text) == 0
    assert 'Step 7/7 : CMD ["sh"]' in first.text
    second = build(pier, _files(), t="cached:1").ok()
    assert _hits(second.text) == 6
    assert " ---> Running in" not in second.text
    assert second.image_id == first.image_id
    assert pier.client.get_json("/images/cached:1/json")["Id"] == first.image_id
    assert leftovers(pier) == []


def test_changed_copy_input_rebuilds_from_that_step(pier: PierDaemon) -> None:
    base = build(pier, _files()).ok()
    changed = build(pier, _files("b1\n")).ok()
    steps = changed.text.split("Step ")[1:]
    cached = [s.split(" :")[0] for s in steps if " ---> Using cache" in s]
    assert cached == ["2/7", "3/7", "4/7"]
    assert changed.image_id != base.image_id
    assert run_output(pier, changed.image_id, "cat", "/c.txt") == "b1\na\n"


def test_cache_survives_a_restart(pier: PierDaemon) -> None:
    first = build(pier, _files("restart\n")).ok()
    pier.restart()
    again = build(pier, _files("restart\n")).ok()
    assert _hits(again.text) == 6
    assert again.image_id == first.image_id


def test_no_cache_and_prune(pier: PierDaemon) -> None:
    first = build(pier, _files("prune\n")).ok()
    fresh = build(pier, _files("prune\n"), nocache=1).ok()
    assert _hits(fresh.text) == 0
    assert fresh.image_id != first.image_id
    report = pier.client.post_json("/build/prune")
    assert set(report) == {"CachesDeleted", "SpaceReclaimed"}
    assert fresh.image_id in report["CachesDeleted"]
    after = build(pier, _files("prune\n")).ok()
    assert _hits(after.text) == 0


def test_rmi_prunes_the_untagged_steps(pier: PierDaemon) -> None:
    steps = {"Dockerfile": 'FROM busybox\nRUN echo rmi > /u\nENV A=1\nCOPY a.txt /a\nCMD ["x"]\n'}
    steps["a.txt"] = "a"
    built = build(pier, steps, t="to-remove:1").ok()
    child = build(pier, {"Dockerfile": "FROM to-remove:1\nENV CHILD=1\n"}, t="child:1").ok()
    removed = pier.client.delete("/images/child:1")
    # The child goes; its parent is tagged, so it stays.
    assert [r["Deleted"] for r in removed if "Deleted" in r] == [child.image_id]
    assert pier.client.get_json("/images/to-remove:1/json")["Id"] == built.image_id
    images = {i["Id"] for i in pier.client.get_json("/images/json", all=1)}
    removed = pier.client.delete("/images/to-remove:1")
    gone = [r["Deleted"] for r in removed if r.get("Deleted") in images]
    assert gone[0] == built.image_id
    assert len(gone) == 4  # the image and its three untagged step images
    assert pier.client.get_json("/images/busybox/json")["Id"] in images

    steps["a.txt"] = "noprune"
    noprune = build(pier, steps, t="np:1").ok()
    parent = pier.client.get_json("/images/np:1/json")["Parent"]
    removed = pier.client.delete("/images/np:1", noprune=1)
    assert [r["Deleted"] for r in removed if "Deleted" in r] == [noprune.image_id]
    assert pier.client.get_json(f"/images/{parent}/json")["Id"] == parent
