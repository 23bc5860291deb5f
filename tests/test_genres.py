"""Style tags read off real Metal Archives genre strings."""

import pytest

from generator.genres import TAGS, check_genre, tags_by_name, tags_of


@pytest.mark.parametrize(
    ("genre", "tags"),
    [
        ("Death Metal", set()),
        ("Brutal Death Metal", {"brutal"}),
        ("Melodic Death Metal/Metalcore", {"melodic", "core"}),
        ("Death/Thrash Metal", {"thrash"}),
        ("Technical Death Metal", {"technical"}),
        ("Death/Doom Metal", {"doom"}),
        ("Death Metal/Grindcore", {"grind"}),
        ("Brutal Death Metal/Goregrind", {"brutal", "grind"}),
        ("Blackened Death Metal", {"black"}),
        ("Progressive Death Metal", {"progressive"}),
        ("Death Metal/Deathcore", {"core"}),
        ("Death/Groove Metal", {"groove"}),
        ("Melodic Death/Thrash Metal (early); Gothic Metal (later)", {"melodic", "thrash"}),
    ],
)
def test_genre_strings_map_to_their_tags(genre, tags):
    assert tags_of(genre) == tags


def test_grindcore_is_grind_not_core():
    assert tags_of("Grindcore") == {"grind"}


def test_a_name_shared_by_several_bands_gets_all_their_tags():
    tags = tags_by_name(["Grave", " Grave", "Vomit"], ["Death/Doom Metal", "Brutal Death", "Death"])
    assert tags == {"Grave": {"doom", "brutal"}, "Vomit": frozenset()}


def test_check_genre_normalizes_or_lists_the_valid_tags():
    assert check_genre(" Brutal ") == "brutal"
    with pytest.raises(ValueError, match="choose one of: " + ", ".join(TAGS)):
        check_genre("polka")
    with pytest.raises(ValueError) as refusal:
        check_genre("x" * 5000)
    assert len(str(refusal.value)) < 300
