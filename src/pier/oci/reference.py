"""Docker image references, parsed and normalised exactly as distribution/reference does.

`busybox` -> `docker.io/library/busybox:latest`; the familiar form drops `docker.io/`
and `library/` again for display (`busybox:latest`). Error messages are Docker's,
because clients show them verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pier.errors import InvalidParameter

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_DOMAIN_NAME = _DOMAIN_COMPONENT + r"(?:\." + _DOMAIN_COMPONENT + r")*"
_HOST = r"(?:" + _DOMAIN_NAME + "|" + _IPV6 + r")"
_DOMAIN_AND_PORT = _HOST + r"(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}"
_PATH_COMPONENT = _ALNUM + r"(?:" + _SEPARATOR + _ALNUM + r")*"
_REMOTE_NAME = _PATH_COMPONENT + r"(?:/" + _PATH_COMPONENT + r")*"
_NAME = r"(?:" + _DOMAIN_AND_PORT + r"/)?" + _REMOTE_NAME

_REFERENCE_RE = re.compile(
    r"^(" + _NAME + r")(?::(" + _TAG + r"))?(?:@(" + _DIGEST + r"))?$", re.ASCII
)
_ANCHORED_NAME_RE = re.compile(r"^(?:(" + _DOMAIN_AND_PORT + r")/)?(" + _REMOTE_NAME + r")$")
_ANCHORED_TAG_RE = re.compile(r"^" + _TAG + r"$", re.ASCII)
_IDENTIFIER_RE = re.compile(r"^[a-f0-9]{64}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reference:
    """A parsed, normalised reference. `name` is fully qualified (`docker.io/library/x`)."""

    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def name(self) -> str:
        return f"{self.domain}/{self.path}" if self.domain else self.path

    def __str__(self) -> str:
        out = self.name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    @property
    def familiar_name(self) -> str:
        domain, path = self.domain, self.path
        if domain == DEFAULT_DOMAIN:
            domain = ""
            rest = path.removeprefix(OFFICIAL_PREFIX)
            if path.startswith(OFFICIAL_PREFIX) and "/" not in rest:
                path = rest
        return f"{domain}/{path}" if domain else path

    def familiar(self) -> str:
        """The short display form: `busybox:latest`, `localhost:5000/x/y:tag`."""
        out = self.familiar_name
        if self.tag:
            out += ":" + self.tag
        if self.digest:
            out += "@" + self.digest
        return out

    @property
    def name_only(self) -> bool:
        return not self.tag and not self.digest

    def with_default_tag(self) -> Reference:
        """TagNameOnly: add `:latest` when neither a tag nor a digest is given."""
        if self.name_only:
            return Reference(domain=self.domain, path=self.path, tag=DEFAULT_TAG)
        return self

    def with_tag(self, tag: str) -> Reference:
        if not _ANCHORED_TAG_RE.match(tag):
            raise InvalidParameter("invalid tag format")
        return Reference(domain=self.domain, path=self.path, tag=tag)

    def repository(self) -> Reference:
        return Reference(domain=self.domain, path=self.path)


def _split_docker_domain(name: str) -> tuple[str, str]:
    maybe_domain, sep, maybe_remote = name.partition("/")
    if not sep:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if maybe_domain == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, maybe_remote
    elif (
        maybe_domain == "localhost"
        or any(c in maybe_domain for c in ".:")
        or maybe_domain.lower() != maybe_domain
    ):
        domain, remote = maybe_domain, maybe_remote
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_PREFIX + remote
    return domain, remote


def parse(s: str) -> Reference:
    """distribution's `Parse`: no normalisation; the domain is whatever precedes the first `/`
    when it looks like one."""
    m = _REFERENCE_RE.match(s)
    if m is None:
        if s == "":
            raise InvalidParameter("repository name must have at least one component")
        if _REFERENCE_RE.match(s.lower()):
            raise InvalidParameter("repository name must be lowercase")
        raise InvalidParameter("invalid reference format")
    name, tag, dgst = m.group(1), m.group(2) or "", m.group(3) or ""
    nm = _ANCHORED_NAME_RE.match(name)
    domain, path = (nm.group(1) or "", nm.group(2)) if nm else ("", name)
    if len(path) > NAME_TOTAL_LENGTH_MAX:
        raise InvalidParameter(
            f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters"
        )
    if dgst:
        algo, _, hexpart = dgst.partition(":")
        if algo != "sha256":
            raise InvalidParameter("unsupported digest algorithm")
        if len(hexpart) != 64 or hexpart.lower() != hexpart:
            raise InvalidParameter("invalid checksum digest length")
    return Reference(domain=domain, path=path, tag=tag, digest=dgst)


def parse_normalized(s: str) -> Reference:
    """ParseNormalizedNamed: `busybox` -> docker.io/library/busybox (no tag added)."""
    if _IDENTIFIER_RE.match(s):
        raise InvalidParameter(
            f"invalid repository name ({s}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_docker_domain(s)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        raise InvalidParameter(
            f"invalid reference format: repository name ({remote}) must be lowercase"
        )
    return parse(domain + "/" + remainder)


def parse_docker_ref(s: str) -> Reference:
    """ParseDockerRef: normalised, `:latest` added; a tag is dropped when a digest is given."""
    ref = parse_normalized(s)
    if ref.tag and ref.digest:
        return Reference(domain=ref.domain, path=ref.path, digest=ref.digest)
    return ref.with_default_tag()


def familiar(s: str) -> str:
    """The familiar form of an already normalised reference string."""
    return parse(s).familiar()
