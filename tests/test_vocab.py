"""The character vocabulary: ids, rare characters as unknown, round trips."""

import pytest

from generator.vocab import END, SPECIAL_SYMBOLS, UNK, Vocabulary


def test_rare_characters_become_unknown():
    vocabulary = Vocabulary.build(["aab", "abc", "ab死"], min_count=2)
    assert vocabulary.characters == ("a", "b")
    assert vocabulary.encode("ab死") == [4, 5, UNK]


def test_encode_decode_round_trip_with_non_latin_characters():
    names = ["Чёрный Обелиск", "Ævangelist", "鬼"]
    vocabulary = Vocabulary.build(names, min_count=1)
    for name in names:
        assert vocabulary.decode(vocabulary.encode(name)) == name


def test_special_symbols_are_distinct_ids_dropped_when_decoding():
    vocabulary = Vocabulary.build(["x"], min_count=1)
    assert len(vocabulary) == len(SPECIAL_SYMBOLS) + 1
    assert vocabulary.decode([END, 4, UNK]) == "x"


def test_duplicate_characters_are_refused():
    with pytest.raises(ValueError):
        Vocabulary(("a", "a"))
