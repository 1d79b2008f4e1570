"""Volume values: what a volume is (name, driver, options, labels) and where its data
lives on the host, as Docker's `local` driver keeps them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EMPTY: Mapping[str, str] = MappingProxyType({})
# The label dockerd puts on volumes it makes for `-v /path` and image VOLUMEs:
# `volume prune` without `-a` removes only these.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"


@dataclass(frozen=True, slots=True, kw_only=True)
class Volume:
    name: str
    driver: str = "local"
    created_at: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    # The local driver's `-o` options: type, device, o (a mount made at first use).
    options: Mapping[str, str] = field(default_factory=lambda: EMPTY)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    @property
    def needs_mount(self) -> bool:
        return bool(self.options.get("type") or self.options.get("device"))


@dataclass(frozen=True, slots=True, kw_only=True)
class NewVolume:
    """A `POST /volumes/create` request; an empty name asks for a generated one."""

    name: str = ""
    driver: str = "local"
    labels: Mapping[str, str] = field(default_factory=lambda: EMPTY)
    options: Mapping[str, str] = field(default_factory=lambda: EMPTY)
