"""`auction tender keygen|create|share|reveal` as an officer runs them, each in its own process, against real
Redis and PostgreSQL and a running gateway: keys made and registered, a tender created from a file, a share given
to the gateway (held: one of two), fewer than k shares opening nothing in the CLI's own reveal, and k shares given
together there revealing every lot. The record is verified after (this folder's conftest doesn't)."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import stat
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import asyncpg
from redis.asyncio import Redis

from auction import audit, catalog, identity
from auction.tender import records
from tests.gateway.conftest import BidderMaker, Running, gateway, make_bidder  # noqa: F401  (fixtures)
from tests.gateway.tender_setup import DAY_MS, call, now_ms, rough, scheduled, token, until_status


@dataclass
class Done:
    code: int
    out: str
    err: str


@dataclass
class Cli:
    env: dict[str, str]

    async def __call__(self, *args: str, token: str | None = None) -> Done:
        """`auction ARGS` in a process of its own (the gateway under test runs in this one's event loop)."""
        env = {**self.env, "AUCTION_TOKEN": token} if token else self.env
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "auction", *args, env=env, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return Done(process.returncode, out.decode(), err.decode())


def cli_for(redis_url: str, database_url: str, state: Path) -> Cli:
    env = {key: value for key, value in os.environ.items() if key != "AUCTION_TOKEN"}
    env |= {"AUCTION_REDIS_URL": redis_url, "AUCTION_DATABASE_URL": database_url, "AUCTION_STATE_DIR": str(state)}
    return Cli(env)


async def test_the_tender_commands_from_keys_to_the_reveal(
    gateway: Running,  # noqa: F811
    pg: asyncpg.Pool,
    redis: Redis,
    redis_url: str,
    database_url: str,
    make_bidder: BidderMaker,  # noqa: F811
    new_sale_id: Callable[[], int],
    tmp_path: Path,
) -> None:
    cli = cli_for(redis_url, database_url, tmp_path)
    sale = new_sale_id()
    tag = secrets.token_hex(4)
    auctioneer = await identity.create_account(pg, f"auct-{tag}@x.test", "Auctioneer", None, "auctioneer")
    clerk = await identity.create_account(pg, f"clerk-{tag}@x.test", "Clerk", None, "clerk")  # not a tender's

    # keygen: three officers' keys, each registered as its operator's; a key file is never overwritten
    officers = [await identity.create_account(pg, f"off{i}-{tag}@x.test", f"Officer {i}", None, role)
                for i, role in enumerate(("vetting_officer", "settlement_officer", "admin"))]  # fmt: skip
    keys = [tmp_path / f"officer{i}.key" for i in range(3)]
    for officer, key in zip(officers, keys, strict=True):
        made = await cli("tender", "keygen", "--out", str(key), "--for", officer.email)
        assert made.code == 0, made.err
        assert f"registered as the officer key of {officer.email}" in made.out
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
    kept = await records.officer_keys(pg, [o.id for o in officers])
    assert sorted(kept) == sorted(o.id for o in officers)
    before = keys[0].read_text()
    again = await cli("tender", "keygen", "--out", str(keys[0]))
    assert again.code == 2 and "never overwritten" in again.err and keys[0].read_text() == before

    # create: from a file, by the auctioneer; a clerk may not
    start = now_ms()
    sale_file = tmp_path / "tender.json"
    consignor = await catalog.add_consignor(pg, "Karoo Rough", "Karoo Rough Ltd")
    sale_file.write_text(json.dumps(_tender(sale, start, consignor, [o.id for o in officers])))
    refused = await cli("tender", "create", str(sale_file), "--by", clerk.email)
    assert refused.code == 2 and "--by" in refused.err
    created = await cli("tender", "create", str(sale_file), "--by", auctioneer.email)
    assert created.code == 0, created.err
    tender = json.loads(created.out)
    assert (tender["threshold"], [o["x"] for o in tender["officers"]]) == (2, [1, 2, 3])
    async with aiohttp.ClientSession(gateway.http) as http:
        info = await call(http, "GET", f"/api/sales/{sale}/tender")
        assert (info["public_key"], info["officers"]) == (tender["public_key"], 3)

        # two buyers bid while the window is open (over HTTP: the CLI has no bidding)
        (_, a_token), (_, b_token) = [await make_bidder(sale, paddle, 10**12) for paddle in (41, 42)]
        async with scheduled(gateway, redis, sale):
            await until_status(gateway, sale, "open", timeout_s=15)
            bids = ((a_token, 1, {"per_carat": 300_000}), (b_token, 1, {"amount": 3_200_001}),
                    (b_token, 2, {"amount": 100_000}))  # fmt: skip
            for index, (bidder, lot, figure) in enumerate(bids):
                await call(http, "POST", f"/api/sales/{sale}/lots/{lot}/tender-bids",
                           {"Authorization": f"Bearer {bidder}"}, {"client_id": f"bid-{index}", **figure})  # fmt: skip
            await until_status(gateway, sale, "awaiting_reveal", timeout_s=15)

        # share: the first officer's share, opened from their key file and given to the gateway: held, 1 of 2
        officer_token = await token(pg, officers[0])
        no_token = await cli("tender", "share", str(sale), "--file", str(keys[0]), "--url", gateway.http)
        assert no_token.code == 2 and "AUCTION_TOKEN" in no_token.err
        held = await cli("tender", "share", str(sale), "--file", str(keys[0]), "--url", gateway.http,
                         token=officer_token)  # fmt: skip
        assert held.code == 0, held.err
        assert (json.loads(held.out)["held"], json.loads(held.out)["needed"]) == (1, 2)

        # reveal with fewer than k shares: refused, nothing opened, nothing decided
        one = await cli("tender", "reveal", str(sale), "--share", str(keys[1]), "--by", auctioneer.email)
        assert one.code == 1 and "nothing was opened" in one.err, one.err
        assert {(s.status, s.revealed) for s in await gateway.store.states(sale)} == {("awaiting_reveal", ())}
        assert (await records.tender_key(pg, sale)).revealed_at_ms is None  # type: ignore[union-attr]
        stranger = tmp_path / "stranger.key"
        assert (await cli("tender", "keygen", "--out", str(stranger))).code == 0
        foreign = await cli("tender", "reveal", str(sale), "--share", str(stranger), "--share", str(keys[1]),
                            "--by", auctioneer.email)  # fmt: skip
        assert foreign.code == 2 and "holds no share" in foreign.err

        # reveal with k shares given together, in the CLI's own process: every lot decided and recorded
        revealed = await cli("tender", "reveal", str(sale), "--share", str(keys[1]), "--share", str(keys[2]),
                             "--by", auctioneer.email)  # fmt: skip
        assert revealed.code == 0, revealed.err
        report = json.loads(revealed.out)
        assert report["officers"] == sorted(o.id for o in officers[1:]) and report["refused"] == {}
        results = await call(http, "GET", f"/api/sales/{sale}/tender/results")
        assert [(r["lot"], r["status"], r["amount"], r["per_carat"]) for r in results["lots"]] == [
            (1, "sold", 3_200_001, 304_762), (2, "awaiting_acceptance", 0, None)]  # fmt: skip
        assert results["revealed_at_ms"] is not None
        late = await cli("tender", "share", str(sale), "--file", str(keys[0]), "--url", gateway.http,
                         token=officer_token)  # fmt: skip
        assert late.code == 1 and "nothing left to reveal" in late.out
    verified = await audit.verify(pg, sale)
    assert verified.ok, verified.report()


def _tender(sale: int, start: int, consignor: int, officers: list[int]) -> dict[str, object]:
    """Two rough parcels; the window opens a few seconds on (the CLI's processes start meanwhile)."""
    bids_from = start + 5_000
    return {
        "id": sale, "name": "CLI tender", "currency": "USD", "format": "tender", "starts_at_ms": start - 1_000,
        "first_close_ms": bids_from + 3_000,
        "settings": {"stagger_ms": 0, "tender": {"bids_from_ms": bids_from, "acceptance_window_ms": DAY_MS,
                                                 "threshold": 2, "officers": officers}},
        "lots": [{"lot": lot, "title": f"Parcel {lot}", "consignor_id": consignor, "diamond": rough(points),
                  "low_estimate": reserve, "high_estimate": reserve * 2, "reserve": reserve, "opening": 1,
                  "details": {"kp_certificate": f"ZA-KP-2026-{lot:06d}"}}
                 for lot, points, reserve in ((1, 1_050, 3_000_000), (2, 300, 900_000))],
    }  # fmt: skip
