"""Which names are already taken by real bands.

A checkpoint carries a fingerprint of every band name it was trained from, not the names
themselves: 8 bytes a name keep the shipped file small and keep the data set out of the
repository, while a collision between two different names stays vanishingly unlikely
(about one in 10^10 for 30,000 names).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import torch

from generator.names import freshness_key


def fingerprint(name: str) -> int:
    """A signed 64-bit fingerprint of the name's freshness key (case and accents ignored)."""
    digest = hashlib.blake2b(freshness_key(name).encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


class KnownNames:
    """A set of band names, tested by fingerprint."""

    def __init__(self, fingerprints: Iterable[int]) -> None:
        self._fingerprints = frozenset(int(value) for value in fingerprints)

    @classmethod
    def from_names(cls, names: Iterable[str]) -> KnownNames:
        return cls(fingerprint(name) for name in names)

    @classmethod
    def from_tensor(cls, tensor: torch.Tensor) -> KnownNames:
        return cls(tensor.tolist())

    def to_tensor(self) -> torch.Tensor:
        return torch.tensor(sorted(self._fingerprints), dtype=torch.int64)

    def __contains__(self, name: str) -> bool:
        return fingerprint(name) in self._fingerprints

    def __len__(self) -> int:
        return len(self._fingerprints)
