import pytest

from pier.errors import InvalidParameter
from pier.oci import reference as refs

NORMALISED = [
    ("busybox", "docker.io/library/busybox", "busybox"),
    ("busybox:latest", "docker.io/library/busybox:latest", "busybox:latest"),
    ("library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
    ("docker.io/busybox", "docker.io/library/busybox", "busybox"),
    ("index.docker.io/library/busybox", "docker.io/library/busybox", "busybox"),
    ("user/repo:tag", "docker.io/user/repo:tag", "user/repo:tag"),
    ("docker.io/library/a/b", "docker.io/library/a/b", "library/a/b"),
    ("localhost/x", "localhost/x", "localhost/x"),
    ("localhost:5000/x/y:tag", "localhost:5000/x/y:tag", "localhost:5000/x/y:tag"),
    ("quay.io/org/img:v1.2", "quay.io/org/img:v1.2", "quay.io/org/img:v1.2"),
    ("[::1]:5000/img", "[::1]:5000/img", "[::1]:5000/img"),
    ("Foo.com/img", "Foo.com/img", "Foo.com/img"),
    ("UPPER.io/x", "UPPER.io/x", "UPPER.io/x"),
    # Not a valid domain (underscores), so the whole string is a path without a domain.
    ("a_b__c-d---e.f/g", "a_b__c-d---e.f/g", "a_b__c-d---e.f/g"),
    (
        "busybox@sha256:" + "a" * 64,
        "docker.io/library/busybox@sha256:" + "a" * 64,
        "busybox@sha256:" + "a" * 64,
    ),
    (
        "busybox:1@sha256:" + "b" * 64,
        "docker.io/library/busybox:1@sha256:" + "b" * 64,
        "busybox:1@sha256:" + "b" * 64,
    ),
]


@pytest.mark.parametrize(("given", "full", "familiar"), NORMALISED, ids=[c[0] for c in NORMALISED])
def test_normalise_and_familiar(given: str, full: str, familiar: str) -> None:
    ref = refs.parse_normalized(given)
    assert str(ref) == full
    assert ref.familiar() == familiar


def test_default_tag_added() -> None:
    assert str(refs.parse_docker_ref("busybox")) == "docker.io/library/busybox:latest"
    assert refs.parse_docker_ref("busybox").familiar() == "busybox:latest"
    dgst = "sha256:" + "c" * 64
    assert str(refs.parse_docker_ref(f"x:1@{dgst}")) == f"docker.io/library/x@{dgst}"


INVALID = [
    ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
    ("user/Repo", "invalid reference format: repository name (user/Repo) must be lowercase"),
    ("", "invalid reference format"),
    ("busybox:", "invalid reference format"),
    ("busybox:-bad", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busybox::tag", "invalid reference format"),
    ("a" * 64, f"invalid repository name ({'a' * 64}), cannot specify 64-byte hexadecimal strings"),
    ("busybox:" + "t" * 129, "invalid reference format"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("UPPER.io/x/Y", "invalid reference format: repository name (x/Y) must be lowercase"),
]


@pytest.mark.parametrize(("given", "message"), INVALID, ids=[c[0][:20] or "empty" for c in INVALID])
def test_invalid(given: str, message: str) -> None:
    with pytest.raises(InvalidParameter) as info:
        refs.parse_normalized(given)
    assert str(info.value) == message


def test_with_tag_validates() -> None:
    ref = refs.parse_normalized("busybox")
    assert ref.with_tag("v1.0_x").familiar() == "busybox:v1.0_x"
    with pytest.raises(InvalidParameter, match="invalid tag format"):
        ref.with_tag("bad tag")


def test_long_name_rejected() -> None:
    with pytest.raises(InvalidParameter, match="must not be more than 255 characters"):
        refs.parse_normalized("a/" + "b" * 260)
