"""The character vocabulary: which symbols the model reads and writes, and their ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

PAD, START, END, UNK = 0, 1, 2, 3
SPECIAL_SYMBOLS = ("<pad>", "<start>", "<end>", "<unk>")
# Symbols a model may score but must never write into a name.
NEVER_SAMPLED = (PAD, START, UNK)

# Characters seen fewer times than this in the training names are read as <unk>: one lonely
# kanji teaches the model nothing but costs a row of the output layer.
DEFAULT_MIN_COUNT = 3


@dataclass(frozen=True)
class Vocabulary:
    """Maps characters to ids; ids 0-3 are the special symbols, the characters follow."""

    characters: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(set(self.characters)) != len(self.characters):
            raise ValueError("vocabulary characters must be distinct")
        if any(len(ch) != 1 for ch in self.characters):
            raise ValueError("vocabulary entries must be single characters")
        index = {ch: i + len(SPECIAL_SYMBOLS) for i, ch in enumerate(self.characters)}
        object.__setattr__(self, "_index", index)

    @classmethod
    def build(cls, names: Iterable[str], min_count: int = DEFAULT_MIN_COUNT) -> Vocabulary:
        counts = Counter(ch for name in names for ch in name)
        # sorted so that the same names always give the same ids
        return cls(tuple(sorted(ch for ch, count in counts.items() if count >= min_count)))

    def __len__(self) -> int:
        return len(SPECIAL_SYMBOLS) + len(self.characters)

    def __contains__(self, character: str) -> bool:
        return character in self._index

    def encode(self, text: str) -> list[int]:
        """Character ids of `text`, with <unk> for characters the model does not know."""
        return [self._index.get(ch, UNK) for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of character ids; special symbols are dropped."""
        offset = len(SPECIAL_SYMBOLS)
        return "".join(self.characters[i - offset] for i in ids if i >= offset)
