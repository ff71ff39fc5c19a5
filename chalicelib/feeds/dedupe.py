"""First-wins detection of repeated offer ids, in ~16 bytes per distinct id.

A feed is a snapshot: when an id repeats, the first offer keeps it and later ones are reported
(Yandex's rule too). Remembering every id is the one piece of state that must grow with the
feed, so it is kept small: 64-bit fingerprints (Python's per-process string hash) in an
open-addressing `array('Q')` instead of a set of strings (~100 bytes per id). Two different ids
collide with probability about n^2 / 2^65 (3e-8 for a million offers); the cost of a collision
is one offer wrongly reported as a duplicate, never a wrong product.

The feed import (``services/feed_import.py``) keeps the product ids of one file in the same
set, to find the products that left the feed: there a collision could only keep one such
product available. The fingerprints are per process, so a set never outlives its process.
"""

from __future__ import annotations

from array import array

_MASK = (1 << 64) - 1


class OfferIdSet:
    def __init__(self) -> None:
        self._slots = array("Q", [0]) * 1024
        self._used = 0

    def add(self, offer_id: str) -> bool:
        """Remember the id; False when it was already there."""
        if self._insert(self._slots, self._fingerprint(offer_id)):
            self._used += 1
            if self._used * 3 > len(self._slots) * 2:
                self._grow()
            return True
        return False

    def __contains__(self, offer_id: str) -> bool:
        slots = self._slots
        mask = len(slots) - 1
        fingerprint = self._fingerprint(offer_id)
        index = fingerprint & mask
        while slots[index] not in (0, fingerprint):
            index = (index + 1) & mask
        return slots[index] == fingerprint

    @staticmethod
    def _fingerprint(offer_id: str) -> int:
        return (hash(offer_id) & _MASK) or 1  # 0 marks an empty slot

    @staticmethod
    def _insert(slots: array, fingerprint: int) -> bool:
        mask = len(slots) - 1
        index = fingerprint & mask
        while True:
            current = slots[index]
            if current == 0:
                slots[index] = fingerprint
                return True
            if current == fingerprint:
                return False
            index = (index + 1) & mask

    def _grow(self) -> None:
        bigger = array("Q", [0]) * (2 * len(self._slots))
        for fingerprint in self._slots:
            if fingerprint:
                self._insert(bigger, fingerprint)
        self._slots = bigger
