"""Every PierError class has a status from Docker's set, and the API server answers
each with that status and Docker's `{"message": ...}` body (a 304 with none)."""

from __future__ import annotations

import asyncio
import importlib
import json
import pkgutil

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

import pier
from pier.api.routing import Route
from pier.api.server import build_app
from pier.errors import PierError

DOCKER_STATUSES = frozenset({304, 400, 401, 403, 404, 409, 413, 500, 501, 503})


def _import_everything() -> None:
    for info in pkgutil.walk_packages(pier.__path__, prefix="pier."):
        importlib.import_module(info.name)


def _subclasses(cls: type[PierError]) -> list[type[PierError]]:
    out: list[type[PierError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_subclasses(sub))
    return out


_import_everything()
ERRORS = sorted(set(_subclasses(PierError)), key=lambda c: f"{c.__module__}.{c.__qualname__}")


def _declared_status(cls: type[PierError]) -> int | None:
    """The status the class or an ancestor below PierError declares, if any."""
    for klass in cls.__mro__:
        if klass is PierError:
            return None
        if "status" in vars(klass):
            return int(vars(klass)["status"])
    return None


def _instance(cls: type[PierError]) -> PierError:
    # Most take Docker's message; the NoSuchX classes take the reference instead.
    try:
        return cls("something went wrong")
    except TypeError:
        exc = cls.__new__(cls)
        PierError.__init__(exc, "something went wrong")
        return exc


def test_the_walk_found_the_hierarchy() -> None:
    names = {c.__name__ for c in ERRORS}
    assert {"NotFound", "NoSuchContainer", "NotModified", "Unavailable"} <= names


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_status_is_declared_and_dockers(cls: type[PierError]) -> None:
    status = _declared_status(cls)
    assert status is not None, f"{cls.__qualname__} inherits PierError's default status"
    assert status in DOCKER_STATUSES
    assert cls.status == status


async def _answer(exc: PierError) -> tuple[int, bytes, str]:
    async def fail(request: web.Request) -> web.StreamResponse:
        raise exc

    client = TestClient(TestServer(build_app([Route("GET", "/fail", fail)])))
    await client.start_server()
    try:
        resp = await client.get("/v1.47/fail")
        return resp.status, await resp.read(), resp.headers.get("Content-Type", "")
    finally:
        await client.close()


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_server_maps_the_class_to_its_status(cls: type[PierError]) -> None:
    exc = _instance(cls)
    status, body, content_type = asyncio.run(_answer(exc))
    assert status == cls.status
    if status == 304:
        assert body == b""
    else:
        assert content_type == "application/json"
        assert json.loads(body) == {"message": exc.message}
