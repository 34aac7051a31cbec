"""Sealed-bid tenders around the engine's tender format (auction.engine.formats.tender): the keys, the seals
and the shares that keep every amount unreadable until the close, the house included.

    shamir.py    the tender's private key split k of n among named officers; any k rebuild it, fewer nothing
    sealing.py   a bid sealed to a public key (the tender's), and what a browser opens (a buyer's own copy of
                 their bid, an officer's share), each opened with its private key
    officers.py  an officer's own key: its public half registered, its private half in their file or browser
    records.py   what PostgreSQL keeps of a tender: its public key, the shares sealed to their officers, buyers'
                 copies of their bids
    creation.py  a tender sale created with its key: the key made in memory, split, each share sealed to its
                 officer, the private key dropped
    reveal.py    after the close, k shares rebuild the key in memory; every bid is opened, limits applied, each
                 lot's RevealTender executed through the store, the key dropped
    views.py     what each party reads: the published commitments, a buyer's own bids and ranks, the results

The exception (errors.py): TenderRefused, a request about a tender that can't be done as given.
"""
