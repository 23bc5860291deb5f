"""End to end: the `genre` option of `/bandname`, from Discord's choices to the answer and More."""

from __future__ import annotations

import asyncio
import logging
import re

from fake_discord.generator_stub import NO_GENRES_MESSAGE, StubGenerator
from fake_discord.harness import (
    button_ids,
    is_ephemeral,
    listed_names,
    run,
    running_bot,
    shown_text,
)

from generator.genres import TAGS

STRING = 3


def asked(generator: StubGenerator) -> list[tuple[str | None, int]]:
    """(genre, n) of every request the generator was given, in order."""
    return [(request.genre, request.n) for batch in generator.passes for request in batch]


def test_genre_is_registered_as_an_optional_described_choice_of_exactly_the_tags():
    async def scenario():
        async with running_bot(StubGenerator()) as bot:
            return bot.fake.command("bandname")

    options = {option["name"]: option for option in run(scenario())["options"]}
    genre = options["genre"]
    assert (genre["type"], genre["required"]) == (STRING, False)
    assert genre["description"].strip()
    assert [choice["name"] for choice in genre["choices"]] == list(TAGS)
    assert [choice["value"] for choice in genre["choices"]] == list(TAGS)


def test_a_genre_reaches_the_generator_the_header_and_the_log(caplog):
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            with caplog.at_level(logging.INFO, logger="bot.service"):
                record = await bot.fake.invoke("bandname", {"genre": "brutal", "count": 3})
                message = await bot.fake.answer(record)

            assert asked(generator) == [("brutal", 3)]
            assert not is_ephemeral(message)
            assert "3 wild brutal band names" in shown_text(message["content"].splitlines()[0])
            assert len(listed_names(message["content"])) == 3
            served = [r.getMessage() for r in caplog.records if r.getMessage().startswith("served")]
            assert len(served) == 1 and "genre='brutal'" in served[0]

    run(scenario())


def test_no_genre_asks_for_any_style_and_leaves_the_header_as_it_was():
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            message = await bot.fake.answer(await bot.fake.invoke("bandname", {"count": 2}))
            assert asked(generator) == [(None, 2)]
            assert message["content"].startswith("**2 wild band names**")

    run(scenario())


def test_more_keeps_the_genre_as_the_tag_it_stands_for():
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            # Discord sends choice values as they are; a raw interaction may differ in case.
            record = await bot.fake.invoke("bandname", {"genre": " Doom ", "count": 2})
            first = await bot.fake.answer(record)
            [(custom_id, _)] = button_ids(first)

            second = await bot.fake.answer(await bot.fake.click(int(first["id"]), custom_id))

            assert asked(generator) == [("doom", 2), ("doom", 2)]
            for message in (first, second):
                assert "2 wild doom band names" in message["content"].splitlines()[0]

    run(scenario())


def test_an_unknown_genre_gets_a_private_list_of_the_tags_and_the_bot_keeps_serving():
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            record = await bot.fake.invoke("bandname", {"genre": "**polka**"})
            refusal = await bot.fake.answer(record)

            assert record.callback["type"] == 4, "answered at once, without deferring"
            assert is_ephemeral(refusal)
            shown = shown_text(refusal["content"])
            assert "'**polka**'" in shown, "the typed value is quoted literally"
            assert not re.search(r"(?<!\\)\*", refusal["content"]), "no markdown from the user"
            assert all(tag in shown for tag in TAGS)
            assert generator.passes == []

            answer = await bot.fake.answer(
                await bot.fake.invoke("bandname", {"genre": "grind", "count": 1}, user_id=7)
            )
            assert not is_ephemeral(answer)
            assert asked(generator) == [("grind", 1)]

    run(scenario())


def test_a_model_without_genres_refuses_privately_and_spares_the_rest_of_its_batch():
    async def scenario():
        generator = StubGenerator()
        generator.genre_blind = True
        async with running_bot(generator, batch_window=0.2) as bot:
            with_genre, without = await asyncio.gather(
                bot.fake.invoke("bandname", {"genre": "black"}, user_id=1),
                bot.fake.invoke("bandname", {"count": 2}, user_id=2),
            )
            refusal = await bot.fake.answer(with_genre)
            answer = await bot.fake.answer(without)

            assert [request.genre for request in generator.passes[0]] == ["black", None]
            assert is_ephemeral(refusal)
            assert NO_GENRES_MESSAGE in refusal["content"]
            assert with_genre.original_deleted, "the public placeholder is withdrawn"
            assert not is_ephemeral(answer)
            assert len(listed_names(answer["content"])) == 2

    run(scenario())
