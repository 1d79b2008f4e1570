"""Build arguments: `--build-arg` values, the ARGs a Dockerfile declares, and which of
them a step sees (moby's builder/dockerfile/buildargs.go).

An argument is visible in a stage once an `ARG` declares it there; the value is the
`--build-arg` one, else the ARG's default, else (for a bare `ARG NAME`) the value of
the global ARG of that name (an ARG before the first FROM). The proxy variables are
visible without an ARG when given. The platform arguments BuildKit predefines
(`TARGETPLATFORM`, `BUILDARCH`...) are global ARGs here, so FROM can use them and a
stage gets them with a bare `ARG TARGETOS`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

BUILTIN_ARGS = frozenset(
    {
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "FTP_PROXY",
        "ftp_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    }
)


def platform_args(target: tuple[str, str, str], build: tuple[str, str, str]) -> dict[str, str]:
    """BuildKit's automatic platform ARGs for (os, arch, variant) pairs."""
    out: dict[str, str] = {}
    for prefix, (os_, arch, variant) in (("TARGET", target), ("BUILD", build)):
        out[prefix + "PLATFORM"] = "/".join(p for p in (os_, arch, variant) if p)
        out[prefix + "OS"] = os_
        out[prefix + "ARCH"] = arch
        out[prefix + "VARIANT"] = variant
    return out


class BuildArgs:
    def __init__(
        self,
        options: Mapping[str, str | None],
        *,
        meta: Mapping[str, str | None] | None = None,
    ) -> None:
        self.options = dict(options)
        self.allowed: dict[str, str | None] = {}
        self.meta: dict[str, str | None] = dict(meta or {})
        self.referenced: set[str] = set()

    def for_stage(self) -> BuildArgs:
        """A copy for a new stage: the globals stay, the stage's own ARGs start empty."""
        out = BuildArgs(self.options, meta=self.meta)
        out.referenced = set(self.referenced)
        return out

    def add_meta(self, key: str, value: str | None) -> None:
        self.meta[key] = value

    def add(self, key: str, value: str | None) -> None:
        self.allowed[key] = value
        self.referenced.add(key)

    def _get(self, key: str, mapping: Mapping[str, str | None]) -> str | None:
        given = self.options.get(key)
        if given is not None:
            return given
        default = mapping.get(key)
        if default is None:
            return self.meta.get(key)
        return default

    def _all(self, mapping: Mapping[str, str | None]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key in [*mapping, *sorted(BUILTIN_ARGS)]:
            value = self._get(key, mapping)
            if value is not None:
                out[key] = value
        return out

    def all_allowed(self) -> dict[str, str]:
        return self._all(self.allowed)

    def all_meta(self) -> dict[str, str]:
        return self._all(self.meta)

    def visible(self, env: Iterable[str]) -> list[str]:
        """`KEY=value` of each argument the stage sees that its ENV does not shadow."""
        keys = {e.partition("=")[0] for e in env}
        return [f"{k}={v}" for k, v in self.all_allowed().items() if k not in keys]

    def referenced_or_not_builtin(self, key: str) -> bool:
        return key in self.allowed or key not in BUILTIN_ARGS

    def unused(self) -> list[str]:
        return sorted(k for k in self.options if k not in BUILTIN_ARGS and k not in self.referenced)
