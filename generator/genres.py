"""Style tags: the few words of Metal Archives' genre strings that a name can be asked for.

A band's genre string ("Melodic Death Metal/Metalcore", "Brutal Death/Grindcore") maps to
every tag whose stems appear in it, as part of a word: "black" also finds "Blackened",
"grind" finds "Grindcore" and "Goregrind". Plain "Death Metal" carries no tag.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from generator.names import clean_name

# tag -> stems to look for in the lower-cased genre string; the order is the tags' ids
STYLE_TAGS: dict[str, tuple[str, ...]] = {
    "brutal": ("brutal",),
    "melodic": ("melodic",),
    "technical": ("technical",),
    "progressive": ("progressive",),
    "thrash": ("thrash",),
    "doom": ("doom", "sludge"),
    "black": ("black",),
    "grind": ("grind",),
    "core": ("metalcore", "deathcore", "hardcore"),
    "groove": ("groove",),
}
TAGS = tuple(STYLE_TAGS)

_WORD = re.compile(r"[a-z]+")

# an unknown genre is quoted back to the user, cut to this length
MAX_ECHOED_LENGTH = 40


def tags_of(genre: str) -> frozenset[str]:
    """The style tags a genre string carries."""
    words = _WORD.findall(genre.lower())
    return frozenset(
        tag
        for tag, stems in STYLE_TAGS.items()
        if any(stem in word for word in words for stem in stems)
    )


def check_genre(genre: str, known: tuple[str, ...] = TAGS) -> str:
    """The tag for what a user typed (case ignored), or ValueError listing the valid ones."""
    tag = genre.strip().lower()
    if tag not in known:
        shown = genre if len(genre) <= MAX_ECHOED_LENGTH else genre[:MAX_ECHOED_LENGTH] + "…"
        raise ValueError(f"unknown genre {shown!r}; choose one of: {', '.join(known)}")
    return tag


def tags_by_name(names: Iterable[str], genres: Iterable[str]) -> dict[str, frozenset[str]]:
    """Each cleaned name's tags; a name several bands share gets the tags of them all."""
    tags: dict[str, frozenset[str]] = {}
    for name, genre in zip(names, genres, strict=True):
        key = clean_name(name)
        tags[key] = tags.get(key, frozenset()) | tags_of(genre)
    return tags
