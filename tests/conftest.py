"""Shared fixtures: a small CSV of made-up band names and a tiny model trained on it."""

from __future__ import annotations

import itertools
import random
from pathlib import Path

import pandas as pd
import pytest

from generator.options import TrainingOptions
from generator.training import train

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data" / "bands.csv"

_FIRST = [
    "Rotting",
    "Grave",
    "Necro",
    "Vile",
    "Putrid",
    "Black",
    "Morbid",
    "Cursed",
    "Ærie",
    "Dread",
    "Żmij",
    "Obscene",
    "Torn",
    "Blasphem",
    "Foul",
    "Crypt",
]
_SECOND = [
    "Altar",
    "Flesh",
    "Horde",
    "Chasm",
    "Decay",
    "Abyss",
    "Ritual",
    "Carcass",
    "Tomb",
    "Rot",
    "Void",
    "Plague",
    "Sepulchre",
    "Wraith",
    "Gore",
    "Throne",
]
_GENRES = ["Death Metal", "Brutal Death Metal", "Melodic Death Metal", "Death/Doom Metal"]


def made_up_band_names(count: int = 256, seed: int = 0) -> list[str]:
    """Distinct two-word names drawn from small word lists: enough structure to learn quickly."""
    pairs = list(itertools.product(_FIRST, _SECOND))
    random.Random(seed).shuffle(pairs)
    return [f"{first} {second}" for first, second in pairs[:count]]


def write_bands_csv(path: Path, names: list[str]) -> Path:
    genres = [_GENRES[i % len(_GENRES)] for i in range(len(names))]
    pd.DataFrame({"id": range(1, len(names) + 1), "name": names, "genre": genres}).to_csv(
        path, index=False
    )
    return path


@pytest.fixture(scope="session")
def bands_csv(tmp_path_factory) -> Path:
    return write_bands_csv(tmp_path_factory.mktemp("data") / "bands.csv", made_up_band_names())


def tiny_options(data: Path, out: Path, **changes) -> TrainingOptions:
    """A model small enough to train in about a second, in the shape of the real one."""
    settings = dict(
        data=str(data),
        out=str(out),
        hidden_size=24,
        embedding_size=8,
        epochs=2,
        batch_size=16,
        lr=0.01,
        lr_decay=0.5,
        samples=0,
        validation_fraction=0.1,
        device="cpu",
        min_char_count=1,
    )
    settings.update(changes)
    return TrainingOptions(**settings)


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, bands_csv) -> Path:
    out = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    train(tiny_options(bands_csv, out, epochs=4))
    return out
