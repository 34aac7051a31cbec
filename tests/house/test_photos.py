"""Photos over HTTP against real Redis and PostgreSQL: uploaded in bulk (multipart), typed by their bytes' signature,
bounded, all or none; served to the house at once and to anyone once the stone is a lot of a published sale, the
catalogue listing naming them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aiohttp

from auction.photos import MAX_PHOTO_BYTES, MAX_PHOTOS_PER_UPLOAD
from tests.house.desk import Desk

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x02" * 64
WEBP = b"RIFF\x40\x00\x00\x00WEBPVP8 " + b"\x03" * 64


def _upload(files: list[tuple[str, bytes, str]]) -> aiohttp.FormData:
    """A multipart body, each file with the content type its uploader claims (which is not believed)."""
    form = aiohttp.FormData()
    for name, content, claimed in files:
        form.add_field("file", content, filename=name, content_type=claimed)
    return form


async def _post(desk: Desk, stone: int, files: list[tuple[str, bytes, str]], status: int) -> Any:
    path = f"/api/house/stones/{stone}/photos"
    async with desk.http.post(path, data=_upload(files), headers=desk.headers["auctioneer"]) as reply:
        answer = await reply.json()
        assert reply.status == status, answer
        return answer


async def test_photos_uploaded_in_bulk_and_served_with_the_catalogue(
    desk: Desk, new_sale_id: Callable[[], int]
) -> None:
    consignor = (await desk.consignor())["id"]
    stone = (await desk.stone(consignor))["id"]
    batch = [("front.jpg", JPEG, "image/jpeg"), ("side.png", PNG, "image/jpeg"), ("top", WEBP, "application/x")]
    kept = await _post(desk, stone, batch, 201)
    assert [(p["filename"], p["media_type"], p["size"]) for p in kept] == [
        ("front.jpg", "image/jpeg", len(JPEG)), ("side.png", "image/png", len(PNG)), ("top", "image/webp", len(WEBP)),
    ]  # fmt: skip
    assert await _post(desk, stone, [("again.jpg", JPEG, "image/jpeg")], 201) == kept  # the same photo: kept once
    house = await desk.call("GET", f"/api/house/stones/{stone}", "clerk", 200)
    assert [p["id"] for p in house["photos"]] == [p["id"] for p in kept]
    async with desk.http.get(f"/api/house/stones/{stone}/photos/{kept[1]['id']}", headers=desk.headers["clerk"]) as r:
        assert (r.status, r.content_type, await r.read()) == (200, "image/png", PNG)

    sale = new_sale_id()
    await desk.draft(sale)
    await desk.put_lot(sale, 1, stone)
    public = f"/api/sales/{sale}/lots/1/photos/{kept[0]['id']}"
    await desk.call("GET", public, "anonymous", 404)  # a draft's stone is the house's alone
    await desk.publish(sale)
    [entry] = await desk.call("GET", f"/api/sales/{sale}/lots", "anonymous", 200)
    assert entry["listing"]["photos"] == [f"/api/sales/{sale}/lots/1/photos/{p['id']}" for p in kept]
    for url, content, media in zip(entry["listing"]["photos"], (JPEG, PNG, WEBP), ("jpeg", "png", "webp"), strict=True):
        async with desk.http.get(url) as reply:
            assert (reply.status, reply.content_type, await reply.read()) == (200, f"image/{media}", content)
            assert reply.headers["X-Content-Type-Options"] == "nosniff"
    await desk.call("GET", f"/api/sales/{sale}/lots/2/photos/{kept[0]['id']}", "anonymous", 404)


async def test_a_bad_batch_is_refused_whole(desk: Desk) -> None:
    consignor = (await desk.consignor())["id"]
    stone = (await desk.stone(consignor))["id"]
    script = b"<script>alert(1)</script>"
    refused = await _post(desk, stone, [("a.jpg", JPEG, "image/jpeg"), ("b.jpg", script, "image/jpeg")], 400)
    assert refused["problems"] == [{"field": "files[1]", "message": "'b.jpg' is not a JPEG, PNG or WebP image"}]
    assert (await desk.call("GET", f"/api/house/stones/{stone}", "auctioneer", 200))["photos"] == []  # not even a.jpg
    too_many = [(f"{n}.png", PNG + bytes([n]), "image/png") for n in range(MAX_PHOTOS_PER_UPLOAD + 1)]
    assert (await _post(desk, stone, too_many, 413))["error"]["field"] == "files"
    huge = JPEG + b"\x00" * MAX_PHOTO_BYTES
    too_big = await _post(desk, stone, [("ok.jpg", JPEG, "image/jpeg"), ("big.jpg", huge, "image/jpeg")], 413)
    assert too_big["error"]["field"] == "files[1]"
    plain = await desk.call("POST", f"/api/house/stones/{stone}/photos", "auctioneer", 400, data=JPEG,
                            content_type="image/jpeg")  # fmt: skip
    assert plain["error"]["field"] == "files"
    assert (await _post(desk, 999_999_999, [("a.jpg", JPEG, "image/jpeg")], 404))["error"]["field"] == "stone"
