"""What a `/bandname` user can choose, and how those choices become a generator request.

Every option of the command lives in `NameOptions`, so adding one means one new field here, one
new parameter in `bot.commands`, and one new word in the answer's header.
"""

from __future__ import annotations

from dataclasses import dataclass

from generator.request import DEFAULT_TEMPERATURE, GenerationRequest

DEFAULT_COUNT = 5
MAX_COUNT = 10

# Named sampling temperatures: people pick a mood, not a number. "wild" is the generator's own
# default; "tame" stays close to the names it learned from, "unhinged" wanders far from them.
TEMPERATURES: dict[str, float] = {
    "tame": 0.5,
    "wild": DEFAULT_TEMPERATURE,
    "unhinged": 1.2,
}
DEFAULT_MOOD = "wild"


@dataclass(frozen=True)
class NameOptions:
    """One `/bandname` invocation's choices, kept so the More button can ask again."""

    prime: str = ""
    count: int = DEFAULT_COUNT
    temperature: str = DEFAULT_MOOD  # a key of TEMPERATURES: the mood, not the number
    genre: str | None = None  # a style tag of generator.genres, or None for any style

    def to_request(self) -> GenerationRequest:
        """The generator request for these options; raises ValueError with a user-facing message."""
        if self.temperature not in TEMPERATURES:
            known = ", ".join(TEMPERATURES)
            raise ValueError(f"temperature must be one of {known}, not {self.temperature!r}")
        return GenerationRequest(
            n=self.count,
            prime=self.prime,
            temperature=TEMPERATURES[self.temperature],
            genre=self.genre,
        )
