"""What a caller may ask of the generator, validated once, before any model work is done."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from generator.genres import check_genre

MAX_PRIME_LENGTH = 32
MAX_NAMES_PER_REQUEST = 100
MAX_TEMPERATURE = 2.0
DEFAULT_TEMPERATURE = 0.8


@dataclass(frozen=True)
class GenerationRequest:
    """`n` fresh names that start with `prime`, sampled at `temperature`, in a `genre`.

    Constructing a request checks it: a bad one raises ValueError with a message meant for the
    person who typed it, so the command line and the bot can show it as it is.
    """

    n: int = 10
    prime: str = ""
    temperature: float = DEFAULT_TEMPERATURE
    seed: int | None = None
    genre: str | None = None  # a style tag of generator.genres, or None for any style

    def __post_init__(self) -> None:
        check_prime(self.prime)
        if self.genre is not None:
            object.__setattr__(self, "genre", check_genre(self.genre))
        if isinstance(self.n, bool) or not isinstance(self.n, int):
            raise ValueError(f"the number of names must be a whole number, got {self.n!r}")
        if not 1 <= self.n <= MAX_NAMES_PER_REQUEST:
            raise ValueError(f"ask for between 1 and {MAX_NAMES_PER_REQUEST} names, not {self.n}")
        if not 0.0 < self.temperature <= MAX_TEMPERATURE:
            raise ValueError(
                f"temperature must be above 0 and at most {MAX_TEMPERATURE:g}, "
                f"not {self.temperature:g}"
            )


def check_prime(prime: str) -> None:
    """Raise ValueError unless `prime` is a usable start for a name."""
    if not isinstance(prime, str):
        raise ValueError("the prime must be text")
    if prime == "":
        return
    if not prime.strip():
        raise ValueError("the prime is blank: leave it out, or give it some letters")
    if len(prime) > MAX_PRIME_LENGTH:
        raise ValueError(
            f"the prime is {len(prime)} characters long; the most is {MAX_PRIME_LENGTH}"
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in prime):
        raise ValueError("the prime holds control characters (such as a tab or a line break)")
