"""How names are escaped and laid out in the `/bandname` answer, shown character for character."""

from __future__ import annotations

import re

import pytest
from fake_discord.harness import listed_names, shown_text

from bot.formatting import (
    EMPTY_ANSWER,
    MARKDOWN_SIGNIFICANT,
    MAX_SHOWN_NAME_LENGTH,
    escape_literal,
    render_names,
    shorten,
)
from bot.options import NameOptions

TRICKY = [
    "**Bold**",
    "_Slanted_",
    "`Tick`",
    "||Hidden||",
    "~~Gone~~",
    "> Quoted",
    "# Heading",
    "- Item",
    "[Link](https://x.example)",
    "@everyone",
    "@here",
    "<@123>",
    "<@&456>",
    "<#789>",
    "<:skull:1>",
    "Back\\slash",
    "https://rot.example",
    "Plain Name",
    "Ünïcödé Grïm",
]


@pytest.mark.parametrize("name", TRICKY)
def test_escaped_text_shows_exactly_the_original(name):
    assert shown_text(escape_literal(name)) == name


@pytest.mark.parametrize("name", TRICKY)
def test_no_significant_character_is_left_unescaped(name):
    escaped = escape_literal(name)
    unescaped = re.sub(r"\\.", "", escaped)
    assert not set(unescaped) & MARKDOWN_SIGNIFICANT


def test_letters_digits_and_spaces_are_left_alone():
    assert escape_literal("Necro Throne 666") == "Necro Throne 666"


def test_line_breaks_cannot_start_a_new_block():
    escaped = escape_literal("Rot\n# Heading\r\n> quote")
    assert "\n" not in escaped and "\r" not in escaped
    assert shown_text(escaped) == "Rot # Heading  > quote"


def test_answer_lists_every_name_numbered_under_a_header():
    names = ["Crypt *Maw*", "@everyone Pyre", "Husk"]
    content = render_names(names, NameOptions(prime="", count=3, temperature="tame"))

    header, *lines = content.splitlines()
    assert "3 tame band names" in header
    assert len(lines) == 3
    assert listed_names(content) == names


def test_header_names_the_genre_beside_the_mood():
    content = render_names(["Rot", "Husk"], NameOptions(count=2, temperature="tame", genre="doom"))
    assert content.splitlines()[0] == "**2 tame doom band names**"


def test_header_shows_the_prime_escaped_and_singular_for_one_name():
    content = render_names(["<@1>Rot"], NameOptions(prime="<@1>", count=1))
    header = content.splitlines()[0]
    assert "band name**" in header
    assert "<@1>" in shown_text(header) and "<@" not in header


def test_an_empty_answer_says_so_instead_of_showing_a_bare_header():
    assert render_names([], NameOptions()) == EMPTY_ANSWER


def test_overlong_names_are_shortened_and_the_answer_fits_in_a_discord_message():
    names = ["<" * 500] * 10
    content = render_names(names, NameOptions(prime="@" * 32, count=10))
    assert len(content) <= 2000
    assert all(len(name) == MAX_SHOWN_NAME_LENGTH for name in listed_names(content))
    assert shorten("short") == "short"
