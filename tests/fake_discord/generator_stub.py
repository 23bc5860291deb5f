"""A stand-in for `NameGenerator`: quick, predictable names, with a record of every pass."""

from __future__ import annotations

import threading
import time

from generator.errors import BandnameError
from generator.request import GenerationRequest

SUFFIXES = ["Throne", "Crypt", "Maw", "Pyre", "Rot", "Altar", "Gore", "Vault", "Scourge", "Husk"]
# What `NameGenerator` says when a checkpoint trained without genre tags is asked for a genre.
NO_GENRES_MESSAGE = "this model was trained without genre tags"


class StubGenerator:
    """Names are the prime followed by a suffix; each pass can be made slow or can fail."""

    def __init__(self, *, pass_seconds: float = 0.0) -> None:
        self.pass_seconds = pass_seconds
        self.passes: list[list[GenerationRequest]] = []
        self.threads: set[str] = set()
        self.refused_primes: set[str] = set()
        self.explode = False
        self.fixed_names: list[str] | None = None
        # Like a checkpoint trained without genre tags: any request with a genre is refused.
        self.genre_blind = False

    def generate_many(self, requests: list[GenerationRequest]) -> list[list[str]]:
        self.passes.append(list(requests))
        self.threads.add(threading.current_thread().name)
        # Sleeping holds this thread the way a model pass would, so a pass run on the event loop
        # would stall it visibly.
        time.sleep(self.pass_seconds)
        if self.explode:
            raise RuntimeError("the stub generator was told to break")
        for request in requests:
            if request.prime in self.refused_primes:
                raise BandnameError(f"the prime {request.prime!r} has letters the model never saw")
            if self.genre_blind and request.genre is not None:
                raise ValueError(NO_GENRES_MESSAGE)
        return [self._names(request) for request in requests]

    def _names(self, request: GenerationRequest) -> list[str]:
        if self.fixed_names is not None:
            return self.fixed_names[: request.n]
        prime = request.prime or "Necro"
        return [f"{prime}{SUFFIXES[i % len(SUFFIXES)]}" for i in range(request.n)]
