"""The tender's seals and shares: a sealed bid opens only with its key, in its place; k shares rebuild the
key and fewer don't."""

from __future__ import annotations

import base64
import itertools
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from auction.tender.sealing import (
    BROWSER_BLOCK,
    BidContent,
    SealError,
    new_key_pair,
    open_browser_seal,
    open_sealed,
    public_key_of,
    public_of,
    seal,
    seal_for_browser,
    where_of,
)
from auction.tender.shamir import PRIME, Share, SharingError, combine, split

HERE = where_of(7, 1, 42, "bid-1")


def test_a_sealed_bid_opens_with_its_key_and_nothing_else() -> None:
    private, public = new_key_pair()
    content = BidContent(123_456_789, None, "salt-x")
    sealed = seal(content, public, HERE)
    assert "123456789" not in sealed and str(content.amount) not in sealed
    assert open_sealed(sealed, private, HERE) == content
    other, _ = new_key_pair()
    with pytest.raises(SealError):
        open_sealed(sealed, other, HERE)
    with pytest.raises(SealError):
        open_sealed(sealed, private, where_of(7, 2, 42, "bid-1"))  # moved to another lot
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SealError):
        open_sealed(tampered, private, HERE)
    assert public_of(private) == public


def test_two_seals_of_one_bid_differ() -> None:
    _, public = new_key_pair()
    content = BidContent(5, 2, "s")
    assert seal(content, public, HERE) != seal(content, public, HERE)


def test_a_sealed_bids_length_says_nothing_of_its_amount() -> None:
    _, public = new_key_pair()
    lengths = {len(seal(BidContent(amount, per_carat, "s" * 32), public, HERE))
               for amount, per_carat in ((1, None), (10**13, 10**13), (7_319_457_113, 2_927_783))}  # fmt: skip
    assert len(lengths) == 1


def test_a_browser_seal_opens_with_its_key_in_its_place_and_pads_its_text() -> None:
    private, public = new_key_pair()
    text = '{"amount":7319457113,"per_carat":null}'
    sealed = seal_for_browser(text, public, HERE)
    assert open_browser_seal(sealed, private, HERE) == text
    assert len(seal_for_browser("{}", public, HERE)) == len(sealed)  # both padded to one block
    assert len(seal_for_browser("x" * (BROWSER_BLOCK + 1), public, HERE)) > len(sealed)
    for wrong_key, wrong_place in ((new_key_pair()[0], HERE), (private, where_of(7, 1, 43, "bid-1"))):
        with pytest.raises(SealError):
            open_browser_seal(sealed, wrong_key, wrong_place)
    with pytest.raises(SealError):
        open_sealed(sealed, private, HERE)  # the two seals are not the same cipher


def test_a_public_key_given_as_text_is_checked() -> None:
    _, public = new_key_pair()
    assert public_key_of(base64.b64encode(public).decode()) == public
    for bad in ("", "not base64!", base64.b64encode(b"short").decode(), base64.b64encode(bytes(33)).decode()):
        with pytest.raises(SealError):
            public_key_of(bad)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 5), st.integers(0, 4), st.binary(min_size=32, max_size=32))
def test_any_k_shares_rebuild_the_key(threshold: int, extra: int, key: bytes) -> None:
    shares = split(key, threshold, threshold + extra)
    for chosen in itertools.combinations(shares, threshold):
        assert combine(list(chosen), threshold) == key


def test_fewer_than_k_shares_rebuild_nothing_and_say_so() -> None:
    key = secrets.token_bytes(32)
    shares = split(key, 3, 5)
    with pytest.raises(SharingError, match="3 are needed"):
        combine(shares[:2], 3)
    with pytest.raises(SharingError, match="twice"):
        combine([shares[0], shares[0], shares[1]], 3)


def test_k_minus_one_shares_fit_every_secret() -> None:
    """With k - 1 shares fixed, any secret at all has a polynomial through them: the shares tell nothing."""
    shares = split(secrets.token_bytes(32), 2, 3)
    known = shares[0]
    for guess in (b"\x00" * 32, b"\xff" * 32):
        secret = int.from_bytes(b"\x01" + guess, "big")
        slope = (known.y - secret) * pow(known.x, -1, PRIME) % PRIME  # the line through (0, guess) and the share
        assert (secret + slope * known.x) % PRIME == known.y


def test_shares_are_text_an_officer_can_keep() -> None:
    shares = split(b"k" * 32, 2, 3)
    assert [Share.decode(s.encode()) for s in shares] == shares
    for bad in ("", "x-1", "0-ff", "1-zz", "999-1"):
        with pytest.raises(SharingError):
            Share.decode(bad)


def test_shares_of_another_key_do_not_combine_into_one() -> None:
    mixed = [split(b"a" * 32, 2, 2)[0], split(b"b" * 32, 2, 2)[1]]
    result: bytes | None
    try:
        result = combine(mixed, 2)
    except SharingError:
        result = None
    assert result not in (b"a" * 32, b"b" * 32)
