"""The /images routes against a real ImageService on tmp_path, through aiohttp's test client."""

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pier.api.routers.images import routes
from pier.errors import PierError
from pier_testing.image_store import Env


@web.middleware
async def _errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    # Stands in for the API server's single error mapping.
    try:
        return await handler(request)
    except PierError as exc:
        return web.json_response({"message": exc.message}, status=exc.status)


def _run(env: Env, scenario: Callable[[TestClient], Awaitable[None]]) -> None:
    async def main() -> None:
        app = web.Application(middlewares=[_errors])
        for route in routes(env.service):
            app.router.add_route(route.method, route.path, route.handler)
            app.router.add_route(
                route.method, r"/v{api_version:[0-9]+\.[0-9]+}" + route.path, route.handler
            )
        async with TestClient(TestServer(app)) as client:
            await scenario(client)

    asyncio.run(main())


async def _import(client: TestClient, tar: Path, **params: Any) -> str:
    with tar.open("rb") as body:
        resp = await client.post("/images/create", params={"fromSrc": "-", **params}, data=body)
    assert resp.status == 200, await resp.text()
    assert resp.content_type == "application/json"
    lines = (await resp.read()).split(b"\r\n")
    status = json.loads(lines[-2])["status"]
    assert status.startswith("sha256:")
    return str(status)


def test_import_inspect_history_tag_delete(env: Env, busybox_tar: Path) -> None:
    async def scenario(client: TestClient) -> None:
        image_id = await _import(
            client, busybox_tar, repo="busybox", tag="1", changes=['CMD ["sh"]']
        )
        # greedy {name:.+}: names with slashes and the json/history suffixes route correctly
        resp = await client.get("/images/busybox:1/json")
        assert resp.status == 200
        body = await resp.json()
        assert body["Id"] == image_id
        assert body["RepoTags"] == ["busybox:1"]
        assert body["Config"]["Cmd"] == ["sh"]
        assert body["Config"]["Env"] is None
        assert body["RootFS"]["Type"] == "layers"
        assert body["GraphDriver"]["Name"] == "overlay2"
        assert body["Comment"] == "Imported from -"

        resp = await client.post(
            "/images/busybox:1/tag", params={"repo": "localhost:5000/a/json", "tag": "history"}
        )
        assert resp.status == 201
        resp = await client.get("/v1.47/images/localhost:5000/a/json:history/json")
        assert (await resp.json())["Id"] == image_id
        resp = await client.get("/images/localhost:5000/a/json:history/history")
        (item,) = await resp.json()
        assert item["Id"] == image_id
        assert sorted(item["Tags"]) == ["busybox:1", "localhost:5000/a/json:history"]
        assert item["Comment"] == "Imported from -"

        resp = await client.get("/images/json")
        (summary,) = await resp.json()
        assert summary["Id"] == image_id
        assert summary["Containers"] == -1 and summary["SharedSize"] == -1
        assert "VirtualSize" not in summary
        resp = await client.get("/v1.43/images/json")
        assert (await resp.json())[0]["VirtualSize"] == summary["Size"]

        resp = await client.delete(f"/images/{image_id}")
        assert resp.status == 409
        assert "referenced in multiple repositories" in (await resp.json())["message"]
        resp = await client.delete("/images/localhost:5000/a/json:history")
        assert await resp.json() == [{"Untagged": "localhost:5000/a/json:history"}]
        resp = await client.delete("/images/busybox:1")
        assert resp.status == 200
        records = await resp.json()
        assert records[:2] == [{"Untagged": "busybox:1"}, {"Deleted": image_id}]

        resp = await client.get("/images/busybox:1/json")
        assert resp.status == 404
        assert (await resp.json())["message"] == "No such image: busybox:1"

    _run(env, scenario)


def test_create_errors(env: Env, busybox_tar: Path) -> None:
    async def scenario(client: TestClient) -> None:
        resp = await client.post("/images/create", params={"fromImage": "nosuch", "tag": "latest"})
        assert resp.status == 404
        assert (await resp.json())["message"] == (
            "pull access denied for nosuch, repository does not exist or may require 'docker login'"
        )
        resp = await client.post(
            "/images/create",
            params={"fromSrc": "-", "changes": "RUN true"},
            data=io.BytesIO(busybox_tar.read_bytes()),
        )
        assert resp.status == 400
        assert (await resp.json())["message"] == "RUN is not a valid change command"
        resp = await client.post(
            "/images/create", params={"fromSrc": "-"}, data=b"not a tar at all" * 100
        )
        assert resp.status == 400
        resp = await client.get("/images/json", params={"filters": json.dumps({"nope": ["x"]})})
        assert resp.status == 400

    _run(env, scenario)
    # The uploads were staged under the data root's tmp dir and removed.
    assert list(env.service.tmp_dir.iterdir()) == []
    assert list(env.snapshots.walk()) == []


def test_repo_digests_over_http(env: Env, busybox_tar: Path) -> None:
    digest = "sha256:" + "5" * 64

    async def scenario(client: TestClient) -> None:
        image_id = await _import(client, busybox_tar, repo="localhost:5000/app", tag="v1")
        resp = await client.get("/images/json")
        assert (await resp.json())[0]["RepoDigests"] == []
        resp = await client.get("/v1.43/images/json")
        assert (await resp.json())[0]["RepoDigests"] == ["<none>@<none>"]

        # What a pull will record, through the service's API.
        await env.service.add_manifest("localhost:5000/app", digest, image_id)
        resp = await client.get("/images/json")
        (summary,) = await resp.json()
        assert summary["RepoDigests"] == [f"localhost:5000/app@{digest}"]
        assert summary["RepoTags"] == ["localhost:5000/app:v1"]
        resp = await client.get(f"/images/localhost:5000/app@{digest}/json")
        assert resp.status == 200
        body = await resp.json()
        assert body["Id"] == image_id
        assert body["RepoDigests"] == [f"localhost:5000/app@{digest}"]
        resp = await client.get(f"/images/localhost:5000/other@{digest}/json")
        assert resp.status == 404
        assert (await resp.json())["message"] == f"No such image: localhost:5000/other@{digest}"

        resp = await client.delete(f"/images/localhost:5000/app@{digest}")
        assert await resp.json() == [{"Untagged": f"localhost:5000/app@{digest}"}]
        resp = await client.get(f"/images/{image_id}/json")
        assert (await resp.json())["RepoDigests"] == []

    _run(env, scenario)


def test_listing_follows_changes_between_identical_requests(env: Env, busybox_tar: Path) -> None:
    # The listing is kept (records per image, encoded items per record): each change
    # must show in the next answer, for both the current and the pre-1.44 shape.
    async def listing(client: TestClient, prefix: str = "") -> list[dict[str, Any]]:
        resp = await client.get(f"{prefix}/images/json")
        assert resp.status == 200
        assert resp.content_type == "application/json"
        body: list[dict[str, Any]] = json.loads(await resp.read())
        return body

    async def scenario(client: TestClient) -> None:
        first = await _import(client, busybox_tar, repo="one", tag="1", changes=["ENV A=1"])
        second = await _import(client, busybox_tar, repo="two", tag="1", changes=["ENV A=2"])
        for _ in range(2):
            assert {i["Id"]: i["RepoTags"] for i in await listing(client)} == {
                first: ["one:1"],
                second: ["two:1"],
            }
            legacy = {i["Id"]: i for i in await listing(client, "/v1.43")}
            assert legacy[first]["VirtualSize"] == legacy[first]["Size"]
            assert legacy[first]["RepoDigests"] == ["<none>@<none>"]
        resp = await client.post(f"/images/{first}/tag", params={"repo": "two", "tag": "1"})
        assert resp.status == 201
        assert {i["Id"]: i["RepoTags"] for i in await listing(client)} == {
            first: ["one:1", "two:1"],
            second: [],
        }
        legacy = {i["Id"]: i for i in await listing(client, "/v1.43")}
        assert legacy[second]["RepoTags"] == ["<none>:<none>"]
        resp = await client.delete(f"/images/{second}")
        assert resp.status == 200
        assert [i["Id"] for i in await listing(client)] == [first]
        assert [i["Id"] for i in await listing(client, "/v1.43")] == [first]
        resp = await client.get("/images/json", params={"filters": json.dumps({"label": ["x"]})})
        assert await resp.json() == []
        assert [i["Id"] for i in await listing(client)] == [first]

    _run(env, scenario)
