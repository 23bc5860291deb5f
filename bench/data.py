"""The names every benchmark works on: the real data when present, made-up names otherwise."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from generator.names import load_names

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "bands.csv"

SYNTHETIC_NAME_COUNT = 5000

# Syllables and words for made-up names; one to four words a name gives the spread of lengths
# that length-bucketed batching meets in the real data.
_SYLLABLES = ["gor", "necr", "oth", "vul", "mor", "bid", "crypt", "ash", "ul", "ra", "zeth", "ka"]
_WORDS = ["Altar", "of", "the", "Rotting", "Void", "Flesh", "Tomb", "Plague", "Horde", "Decay"]


@dataclass(frozen=True)
class BenchmarkNames:
    names: list[str]
    source: str  # where they came from, said in every benchmark's output


def synthetic_names(count: int = SYNTHETIC_NAME_COUNT, seed: int = 0) -> list[str]:
    """Distinct made-up band names of one to four words, the same for the same seed."""
    rng = random.Random(seed)
    names: dict[str, None] = {}
    while len(names) < count:
        invented = "".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))).capitalize()
        words = rng.choices(_WORDS, k=rng.randint(0, 3))
        names[" ".join([invented, *words])] = None
    return list(names)


def benchmark_names(path: str | Path | None, default: Path = SHARED_DATA) -> BenchmarkNames:
    """Names from `path`, else from `default` if it exists, else synthetic ones.

    An explicit `path` that cannot be read raises DataError rather than falling back, so a
    typo never silently benchmarks made-up data.
    """
    if path is not None:
        return BenchmarkNames(load_names(path), f"{path}")
    if default.is_file():
        return BenchmarkNames(load_names(default), f"{default}")
    return BenchmarkNames(
        synthetic_names(),
        f"{SYNTHETIC_NAME_COUNT} synthetic made-up names ({default} is absent)",
    )
