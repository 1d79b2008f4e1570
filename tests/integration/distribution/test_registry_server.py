"""`pier registry serve` against the OCI distribution spec 1.1. The conformance suite is
Go (Debian has golang 1.19, the suite needs its modules from the network), so its four
workflows are reproduced here with plain HTTP: pull, push (monolithic, chunked,
cross-repository mount), content discovery (tags with pagination, referrers with the
artifactType filter, catalog), content management (manifest and blob delete), plus
what the spec requires to be refused; then real clients: skopeo both ways, and the
docker CLI through pierd."""

from __future__ import annotations

import hashlib
import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

from pier_testing.binaries import PIER
from pier_testing.daemon import PierDaemon
from pier_testing.registry import DistributionRegistry, PierRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EMPTY = b"{}"


def _req(
    reg: PierRegistry,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, dict[str, str]]:
    url = path if path.startswith("http") else reg.url(path)
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _code(body: bytes) -> str:
    return str(json.loads(body)["errors"][0]["code"])


def _push_blob(reg: PierRegistry, repo: str, data: bytes) -> str:
    digest = _digest(data)
    status, _, headers = _req(reg, "POST", f"/v2/{repo}/blobs/uploads/")
    assert status == 202
    status, _, _ = _req(
        reg, "PUT", f"{reg.url(headers['Location'])}?digest={digest}", data,
        {"Content-Type": "application/octet-stream"},
    )  # fmt: skip
    assert status == 201
    return digest


def _manifest(config: bytes, layers: list[bytes], **extra: object) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": _digest(layer), "size": len(layer)} for layer in layers],
        **extra,
    }  # fmt: skip
    return json.dumps(doc).encode()


def test_push_and_pull_workflows(pier_registry: PierRegistry) -> None:
    reg, repo = pier_registry, "conformance/push"
    assert _req(reg, "GET", "/v2/")[0] == 200
    config, layer = b'{"architecture":"amd64","os":"linux"}', b"layer bytes" * 1000
    _push_blob(reg, repo, config)

    # Chunked: POST, PATCH x2 with Content-Range, PUT ?digest.
    status, _, headers = _req(reg, "POST", f"/v2/{repo}/blobs/uploads/")
    location = reg.url(headers["Location"])
    half = len(layer) // 2
    status, _, headers = _req(reg, "PATCH", location, layer[:half],
                              {"Content-Range": f"0-{half - 1}",
                               "Content-Type": "application/octet-stream"})  # fmt: skip
    assert status == 202 and headers["Range"] == f"0-{half - 1}"
    # A chunk out of order is refused (416) and the upload stays usable.
    status, _, _ = _req(reg, "PATCH", reg.url(headers["Location"]), b"x",
                        {"Content-Range": "5-5"})  # fmt: skip
    assert status == 416
    status, _, headers = _req(reg, "PATCH", reg.url(headers["Location"]), layer[half:],
                              {"Content-Range": f"{half}-{len(layer) - 1}"})  # fmt: skip
    assert status == 202
    status, _, headers = _req(reg, "PUT", f"{reg.url(headers['Location'])}?digest={_digest(layer)}")
    assert status == 201 and headers["Docker-Content-Digest"] == _digest(layer)

    # A wrong digest is refused and stores nothing.
    status, _, headers = _req(reg, "POST", f"/v2/{repo}/blobs/uploads/")
    status, body, _ = _req(reg, "PUT", f"{reg.url(headers['Location'])}?digest={_digest(b'no')}",
                           b"something else")  # fmt: skip
    assert status == 400 and _code(body) == "DIGEST_INVALID"
    assert _req(reg, "HEAD", f"/v2/{repo}/blobs/{_digest(b'something else')}")[0] == 404

    # A manifest naming a blob the repository lacks is refused.
    status, body, _ = _req(reg, "PUT", f"/v2/{repo}/manifests/bad",
                           _manifest(config, [b"missing"]),
                           {"Content-Type": OCI_MANIFEST})  # fmt: skip
    assert status == 400 and _code(body) == "MANIFEST_BLOB_UNKNOWN"

    manifest = _manifest(config, [layer])
    status, _, headers = _req(reg, "PUT", f"/v2/{repo}/manifests/v1", manifest,
                              {"Content-Type": OCI_MANIFEST})  # fmt: skip
    assert status == 201 and headers["Docker-Content-Digest"] == _digest(manifest)

    # Pull: by tag and digest, HEAD and GET, ranges on blobs.
    for ref in ("v1", _digest(manifest)):
        status, body, headers = _req(reg, "GET", f"/v2/{repo}/manifests/{ref}")
        assert status == 200 and body == manifest
        assert headers["Content-Type"] == OCI_MANIFEST
        assert _req(reg, "HEAD", f"/v2/{repo}/manifests/{ref}")[0] == 200
    status, body, _ = _req(reg, "GET", f"/v2/{repo}/blobs/{_digest(layer)}")
    assert status == 200 and body == layer
    status, body, headers = _req(reg, "GET", f"/v2/{repo}/blobs/{_digest(layer)}", None,
                                 {"Range": "bytes=10-"})  # fmt: skip
    assert status == 206 and body == layer[10:]
    status, body, _ = _req(reg, "GET", f"/v2/{repo}/manifests/nope")
    assert status == 404 and _code(body) == "MANIFEST_UNKNOWN"
    status, body, _ = _req(reg, "GET", "/v2/never/pushed/manifests/latest")
    assert status == 404 and _code(body) == "NAME_UNKNOWN"

    # Cross-repository mount, and a mount from where the blob is not: an upload starts.
    status, _, headers = _req(
        reg, "POST", f"/v2/other/repo/blobs/uploads/?mount={_digest(layer)}&from={repo}"
    )
    assert status == 201 and headers["Location"].endswith(_digest(layer))
    status, _, _ = _req(
        reg, "POST", f"/v2/third/blobs/uploads/?mount={_digest(layer)}&from=not/there"
    )
    assert status == 202


def test_content_discovery_and_management(pier_registry: PierRegistry) -> None:
    reg, repo = pier_registry, "conformance/discovery"
    config = b'{"os":"linux"}'
    _push_blob(reg, repo, config)
    manifests = {}
    for tag in ("a", "b", "c", "d"):
        layer = tag.encode() * 100
        _push_blob(reg, repo, layer)
        manifests[tag] = _manifest(config, [layer])
        assert _req(reg, "PUT", f"/v2/{repo}/manifests/{tag}", manifests[tag],
                    {"Content-Type": OCI_MANIFEST})[0] == 201  # fmt: skip
    status, body, headers = _req(reg, "GET", f"/v2/{repo}/tags/list?n=2")
    assert json.loads(body) == {"name": repo, "tags": ["a", "b"]}
    assert headers["Link"] == f'</v2/{repo}/tags/list?n=2&last=b>; rel="next"'
    status, body, headers = _req(reg, "GET", f"/v2/{repo}/tags/list?n=2&last=b")
    assert json.loads(body)["tags"] == ["c", "d"] and "Link" not in headers
    assert repo in json.loads(_req(reg, "GET", "/v2/_catalog")[1])["repositories"]

    # Referrers: an artifact whose subject is manifest "a", filtered by artifactType.
    _push_blob(reg, repo, EMPTY)
    subject = {"mediaType": OCI_MANIFEST, "digest": _digest(manifests["a"]),
               "size": len(manifests["a"])}  # fmt: skip
    artifact = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/x-sbom",
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": _digest(EMPTY),
                   "size": 2},
        "layers": [], "subject": subject,
    }).encode()  # fmt: skip
    status, _, headers = _req(reg, "PUT", f"/v2/{repo}/manifests/{_digest(artifact)}", artifact,
                              {"Content-Type": OCI_MANIFEST})  # fmt: skip
    assert status == 201 and headers["OCI-Subject"] == subject["digest"]
    status, body, headers = _req(reg, "GET", f"/v2/{repo}/referrers/{subject['digest']}")
    index = json.loads(body)
    assert [m["digest"] for m in index["manifests"]] == [_digest(artifact)]
    assert index["manifests"][0]["artifactType"] == "application/x-sbom"
    status, body, headers = _req(
        reg, "GET", f"/v2/{repo}/referrers/{subject['digest']}?artifactType=other/type"
    )
    assert json.loads(body)["manifests"] == [] and headers["OCI-Filters-Applied"] == "artifactType"

    # Management: delete a tag, a manifest, a blob.
    assert _req(reg, "DELETE", f"/v2/{repo}/manifests/d")[0] == 202
    assert _req(reg, "GET", f"/v2/{repo}/manifests/d")[0] == 404
    digest_c = _digest(manifests["c"])
    assert _req(reg, "DELETE", f"/v2/{repo}/manifests/{digest_c}")[0] == 202
    assert _req(reg, "GET", f"/v2/{repo}/manifests/{digest_c}")[0] == 404
    assert "c" not in json.loads(_req(reg, "GET", f"/v2/{repo}/tags/list")[1])["tags"]
    layer_b = _digest(b"b" * 100)
    assert _req(reg, "DELETE", f"/v2/{repo}/blobs/{layer_b}")[0] == 202
    assert _req(reg, "GET", f"/v2/{repo}/blobs/{layer_b}")[0] == 404


def test_hostile_names_references_and_digests_are_refused(pier_registry: PierRegistry) -> None:
    reg = pier_registry
    for path in (
        "/v2/../../etc/manifests/latest",
        "/v2/a/..%2F..%2Fx/manifests/latest",
        "/v2/UPPER/manifests/latest",
        "/v2/ok/manifests/..%2F..%2Fpasswd",
        "/v2/ok/blobs/sha256:..%2F..%2Fetc",
        "/v2/ok/blobs/sha512:" + "a" * 128,
        "/v2/ok/blobs/uploads/..%2F..%2Fx",
    ):
        status, _, _ = _req(reg, "GET", path)
        assert status in (400, 404), path
    assert not (reg.root.parent / "etc").exists()


def test_gc_removes_what_no_manifest_references(tmp_path: Path) -> None:
    reg = PierRegistry(tmp_path / "gc").start()
    try:
        repo = "gc/test"
        config, keep, drop = b'{"os":"linux"}', b"keep" * 50, b"drop" * 50
        for blob in (config, keep, drop):
            _push_blob(reg, repo, blob)
        manifest = _manifest(config, [keep])
        _req(reg, "PUT", f"/v2/{repo}/manifests/v1", manifest, {"Content-Type": OCI_MANIFEST})
    finally:
        reg.stop()
    done = subprocess.run(
        [str(PIER), "registry", "gc", "--root", str(reg.storage)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert f"deleted: {_digest(drop)}" in done.stdout
    left = {p.name for p in (reg.storage / "blobs" / "sha256").iterdir()}
    assert left == {_digest(b).split(":")[1] for b in (config, keep, manifest)}


def test_skopeo_both_ways_and_docker_cli_through_pierd(
    pier: PierDaemon,
    pier_registry: PierRegistry,
    registry: DistributionRegistry,
    tmp_path: Path,
) -> None:
    source = f"{registry.address}/skopeo/busybox:1"
    pier.client.post("/images/busybox/tag", repo=f"{registry.address}/skopeo/busybox", tag="1")
    push = subprocess.run(
        ["docker", "push", source], env=pier.env(), capture_output=True, text=True, timeout=120
    )
    assert push.returncode == 0, push.stderr
    into_pier = f"{pier_registry.address}/from/skopeo:1"
    tls = ["--src-tls-verify=false", "--dest-tls-verify=false"]
    copied = subprocess.run(
        ["skopeo", "copy", *tls, f"docker://{source}", f"docker://{into_pier}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    inspected = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", f"docker://{into_pier}"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert inspected.returncode == 0, inspected.stderr
    assert json.loads(inspected.stdout)["Name"] == into_pier.rsplit(":", 1)[0]
    back = subprocess.run(
        ["skopeo", "copy", *tls, f"docker://{into_pier}",
         f"docker://{registry.address}/back/from-pier:1"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert back.returncode == 0, back.stderr
    # The docker CLI through pierd pulls what skopeo put there, and pushes to it.
    pulled = subprocess.run(
        ["docker", "pull", into_pier], env=pier.env(), capture_output=True, text=True, timeout=120
    )
    assert pulled.returncode == 0, pulled.stderr
    again = f"{pier_registry.address}/docker/cli:2"
    pier.client.post("/images/busybox/tag", repo=again.rsplit(":", 1)[0], tag="2")
    pushed = subprocess.run(
        ["docker", "push", again], env=pier.env(), capture_output=True, text=True, timeout=120
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "2: digest: sha256:" in pushed.stdout
