"""Imports point downward only (DESIGN §3): every `pier.*` import of every module
under src/pier, wherever it sits (module level, under `if TYPE_CHECKING:`, inside a
function), is checked against the layers below. Nothing is allowlisted: an upward
edge is a design bug to fix, not to record."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "pier"

# Bottom to top; a module may import its own layer and the ones below.
SERVER_LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "pier",
        "pier.errors",
        "pier.timefmt",
        "pier.humanize",
        "pier.codec",
        "pier.metadata",
        "pier.reaper",
        "pier.events",
        "pier.config",
        "pier.oci",
    ),
    ("pier.content", "pier.snapshots", "pier.runtime"),
    (
        "pier.containers",
        "pier.images",
        "pier.build",
        "pier.distribution",
        "pier.networking",
        "pier.volumes",
    ),
    ("pier.system", "pier.cluster", "pier.swarm"),
    ("pier.api",),
    ("pier.engine", "pier.daemon"),
)
FOUNDATION = frozenset(SERVER_LAYERS[0])
# The client side stands apart: the CLI must start fast, so it may reach the daemon's
# code only through pier.client, and pier.client only the foundation.
CLIENT_SIDE: dict[str, frozenset[str]] = {
    "pier.client": FOUNDATION | {"pier.client"},
    "pier.cli": FOUNDATION | {"pier.client", "pier.cli"},
}
# Concrete drivers: only the composition root picks them; services use the Protocols.
DRIVERS = ("pier.runtime.conmon", "pier.snapshots.overlay", "pier.content.local")
COMPOSITION_ROOTS = ("pier.engine", "pier.daemon")

LAYER_OF: dict[str, int] = {name: i for i, names in enumerate(SERVER_LAYERS) for name in names}


def _group(module: str) -> str:
    """The classified unit a module belongs to: `pier` itself or `pier.<top>`."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@dataclass(frozen=True, slots=True, kw_only=True)
class Edge:
    importer: str
    imported: str
    line: int

    def __str__(self) -> str:
        return f"{self.importer} -> {self.imported} (line {self.line})"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield _module_name(path), path


def _resolve_relative(importer: str, is_package: bool, level: int, module: str | None) -> str:
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _imports(importer: str, source: str, *, is_package: bool = False) -> Iterator[Edge]:
    """Every pier.* name the module imports; `from pkg import mod` yields `pkg.mod`
    when that is a module, so a submodule imported through its package still counts."""
    tree = ast.parse(source, filename=importer)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if _within(alias.name, "pier"):
                    yield Edge(importer=importer, imported=alias.name, line=node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                target = _resolve_relative(importer, is_package, node.level, node.module)
            else:
                target = node.module or ""
            if not _within(target, "pier"):
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield Edge(
                    importer=importer,
                    imported=sub if _is_module(sub) else target,
                    line=node.lineno,
                )


def _is_module(name: str) -> bool:
    rel = Path(*name.split("."))
    return (SRC / rel).with_suffix(".py").is_file() or (SRC / rel / "__init__.py").is_file()


def _all_edges() -> list[Edge]:
    return [
        edge
        for name, path in _modules()
        for edge in _imports(name, path.read_text(), is_package=path.name == "__init__.py")
    ]


def _violation(edge: Edge) -> str | None:
    src, dst = _group(edge.importer), _group(edge.imported)
    for driver in DRIVERS:
        if (
            _within(edge.imported, driver)
            and not _within(edge.importer, driver)
            and src not in COMPOSITION_ROOTS
        ):
            return f"{edge}: the driver {driver} is chosen only by {COMPOSITION_ROOTS}"
    if src in CLIENT_SIDE:
        if dst not in CLIENT_SIDE[src]:
            return f"{edge}: {src} may import only {sorted(CLIENT_SIDE[src])}"
        return None
    if dst in CLIENT_SIDE:
        return f"{edge}: the daemon's side does not import the client side ({dst})"
    if dst not in LAYER_OF or src not in LAYER_OF:
        return f"{edge}: unclassified module"
    if LAYER_OF[dst] > LAYER_OF[src]:
        return f"{edge}: upward (layer {LAYER_OF[src]} imports layer {LAYER_OF[dst]})"
    return None


def test_every_top_level_module_is_classified() -> None:
    known = set(LAYER_OF) | set(CLIENT_SIDE)
    present = {
        f"pier.{p.stem}"
        for p in PACKAGE.iterdir()
        if (p.suffix == ".py" and p.stem != "__init__") or (p / "__init__.py").is_file()
    }
    assert present, PACKAGE
    assert sorted(present - known) == []


def test_the_walk_sees_imports_everywhere() -> None:
    # The guard is only as good as its walk: it must see TYPE_CHECKING blocks and
    # imports inside functions, where upward edges like to hide.
    source = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from pier.api.server import build_app\n"
        "def f():\n    import pier.engine\n    from pier.api import routing\n"
        "from . import model\n"
    )
    edges = list(_imports("pier.containers.service", source))
    assert {e.imported for e in edges} == {
        "pier.api.server",
        "pier.engine",
        "pier.api.routing",
        "pier.containers.model",
    }
    assert [e.imported for e in edges if _violation(e) is None] == ["pier.containers.model"]


@pytest.mark.parametrize(
    ("importer", "imported", "allowed"),
    [
        ("pier.containers.service", "pier.runtime.base", True),
        ("pier.containers.attach", "pier.api.hijack", False),
        ("pier.containers.attach", "pier.runtime.conmon", False),
        ("pier.engine", "pier.runtime.conmon", True),
        ("pier.cli.main", "pier.client.api", True),
        ("pier.cli.main", "pier.containers.model", False),
        ("pier.client.api", "pier.timefmt", True),
        ("pier.system", "pier.containers.model", True),
        ("pier.api.routers.system", "pier.system", True),
        ("pier.images.service", "pier.system", False),
    ],
    ids=lambda v: str(v),
)
def test_rules(importer: str, imported: str, allowed: bool) -> None:
    edge = Edge(importer=importer, imported=imported, line=1)
    assert (_violation(edge) is None) is allowed


def test_no_upward_imports() -> None:
    edges = _all_edges()
    assert len(edges) > 100  # the walk found the code base
    violations = sorted({v for e in edges if (v := _violation(e)) is not None})
    assert not violations, "upward or forbidden imports:\n" + "\n".join(violations)
