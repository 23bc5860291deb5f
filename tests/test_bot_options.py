"""The `/bandname` options and the generator requests they become."""

from __future__ import annotations

import pytest

from bot.options import DEFAULT_COUNT, DEFAULT_MOOD, MAX_COUNT, TEMPERATURES, NameOptions
from generator.genres import TAGS
from generator.request import MAX_NAMES_PER_REQUEST


def test_defaults_become_a_plain_request_at_the_default_temperature():
    request = NameOptions().to_request()
    assert (request.n, request.prime, request.seed, request.genre) == (
        DEFAULT_COUNT,
        "",
        None,
        None,
    )
    assert request.temperature == TEMPERATURES[DEFAULT_MOOD]


@pytest.mark.parametrize("mood", list(TEMPERATURES))
def test_every_mood_is_a_temperature_the_generator_accepts(mood):
    assert NameOptions(temperature=mood, count=MAX_COUNT).to_request().temperature > 0


@pytest.mark.parametrize("genre", TAGS)
def test_every_genre_tag_becomes_the_requests_genre(genre):
    assert NameOptions(genre=genre).to_request().genre == genre


def test_moods_run_from_tame_to_unhinged():
    assert TEMPERATURES["tame"] < TEMPERATURES["wild"] < TEMPERATURES["unhinged"]


def test_the_most_names_discord_allows_is_within_what_the_generator_serves():
    assert 1 <= DEFAULT_COUNT <= MAX_COUNT <= MAX_NAMES_PER_REQUEST


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (NameOptions(temperature="lukewarm"), "temperature must be one of tame, wild, unhinged"),
        (NameOptions(prime="A\u200bB"), "control characters"),
        (NameOptions(count=0), "between 1 and"),
        (NameOptions(genre="polka"), f"choose one of: {', '.join(TAGS)}"),
    ],
)
def test_unusable_options_raise_a_message_for_the_user(options, message):
    with pytest.raises(ValueError, match=message):
        options.to_request()
