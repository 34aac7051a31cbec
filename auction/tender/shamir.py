"""Shamir's secret sharing: a secret split into n shares, any k of which rebuild it and fewer tell nothing.

Over the prime field of p = 2**521 - 1 (a Mersenne prime, larger than any 64-byte secret): the secret is the
constant term of a random polynomial of degree k - 1, and share x is the polynomial at x (x = 1..n). Lagrange
interpolation at 0 rebuilds the secret from any k shares. k - 1 shares are consistent with every secret
equally: they give nothing away. The coefficients come from the operating system's generator (`secrets`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

PRIME = 2**521 - 1
MAX_SHARES = 255


class SharingError(ValueError):
    """Shares that can't rebuild a secret: too few, repeated, malformed, or for another secret."""


@dataclass(frozen=True, slots=True)
class Share:
    x: int
    y: int

    def encode(self) -> str:
        """As an officer keeps it: `<x>-<y in hex>`."""
        return f"{self.x}-{self.y:x}"

    @classmethod
    def decode(cls, text: str) -> Share:
        try:
            x_text, y_text = text.strip().split("-", 1)
            x, y = int(x_text), int(y_text, 16)
        except ValueError:
            raise SharingError("a share looks like <number>-<hex digits>") from None
        if not 1 <= x <= MAX_SHARES or not 0 <= y < PRIME:
            raise SharingError("that is not a share of this kind")
        return cls(x, y)


def split(secret: bytes, threshold: int, shares: int) -> list[Share]:
    """`shares` shares of `secret`, any `threshold` of which rebuild it."""
    if not 2 <= threshold <= shares <= MAX_SHARES:
        raise SharingError(f"need 2 <= threshold ({threshold}) <= shares ({shares}) <= {MAX_SHARES}")
    value = int.from_bytes(b"\x01" + secret, "big")  # a leading byte keeps leading zeros of the secret
    if value >= PRIME:
        raise SharingError("the secret is too long to share")
    coefficients = [value, *(secrets.randbelow(PRIME) for _ in range(threshold - 1))]
    return [Share(x, _evaluate(coefficients, x)) for x in range(1, shares + 1)]


def combine(shares: list[Share], threshold: int) -> bytes:
    """The secret, from at least `threshold` distinct shares. Raises SharingError otherwise."""
    distinct = {share.x: share for share in shares}
    if len(distinct) != len(shares):
        raise SharingError("the same share was given twice")
    if len(distinct) < threshold:
        raise SharingError(f"{len(distinct)} share(s) given; {threshold} are needed")
    chosen = list(distinct.values())[:threshold]
    value = _interpolate_at_zero(chosen)
    data = value.to_bytes((value.bit_length() + 7) // 8, "big")
    if not data or data[0] != 1:
        raise SharingError("these shares do not belong together")
    return data[1:]


def _evaluate(coefficients: list[int], x: int) -> int:
    result = 0
    for coefficient in reversed(coefficients):
        result = (result * x + coefficient) % PRIME
    return result


def _interpolate_at_zero(shares: list[Share]) -> int:
    total = 0
    for i, share in enumerate(shares):
        numerator, denominator = 1, 1
        for j, other in enumerate(shares):
            if i != j:
                numerator = numerator * (-other.x) % PRIME
                denominator = denominator * (share.x - other.x) % PRIME
        total = (total + share.y * numerator * pow(denominator, -1, PRIME)) % PRIME
    return total


__all__ = ["MAX_SHARES", "PRIME", "Share", "SharingError", "combine", "split"]
