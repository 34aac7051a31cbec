"""`auction demo`: a timed sale run end to end on embedded servers, with bidder bots, then the weeks after it.

run.py          the demo itself: the process group, the sale, the bots, the table, the checks
sale.py         the sale's stones and lots
bots.py         bidder bots, each with a websocket of its own, as a buyer's program would bid
settlement.py   the weeks after the sale, in compressed time
"""
