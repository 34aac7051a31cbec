"""The gateway's fixtures (a real gateway on a free port, sales, people with roles), shared with these tests."""

from tests.gateway.conftest import gateway, make_bidder, make_people, make_sale

__all__ = ["gateway", "make_bidder", "make_people", "make_sale"]
