"""Sealed-bid tenders around the engine's tender format (auction.engine.formats.tender): the keys, the seals
and the shares that keep every amount unreadable until the close, the house included.

    shamir.py    the tender's private key split k of n among named officers; any k rebuild it, fewer nothing
    sealing.py   a bid sealed to a public key (the tender's, or a buyer's own for their copy), opened with its
                 private key
"""
