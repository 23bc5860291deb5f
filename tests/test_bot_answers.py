"""End to end, real discord.py client against the fake Discord: what `/bandname` answers."""

from __future__ import annotations

import asyncio
import logging
import re

from fake_discord.generator_stub import StubGenerator
from fake_discord.harness import button_ids, is_ephemeral, listed_names, run, running_bot

from bot.options import DEFAULT_COUNT, TEMPERATURES
from bot.service import ServiceLimits

NO_MENTIONS = {"parse": []}


def test_bandname_answers_publicly_with_count_names():
    async def scenario():
        async with running_bot(StubGenerator()) as bot:
            record = await bot.fake.invoke("bandname", {"count": 3})
            message = await bot.fake.answer(record)

            assert record.callback == {"type": 5}, "the interaction is deferred before generating"
            assert not is_ephemeral(message)
            assert len(listed_names(message["content"])) == 3

            default = await bot.fake.answer(await bot.fake.invoke("bandname"))
            assert len(listed_names(default["content"])) == DEFAULT_COUNT

    run(scenario())


def test_prime_and_temperature_reach_the_generator_and_the_answer():
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            options = {"prime": "Blood", "count": 4, "temperature": "unhinged"}
            message = await bot.fake.answer(await bot.fake.invoke("bandname", options))

            (request,) = [request for batch in generator.passes for request in batch]
            assert (request.prime, request.n) == ("Blood", 4)
            assert request.temperature == TEMPERATURES["unhinged"]
            assert all(name.startswith("Blood") for name in listed_names(message["content"]))
            assert "Blood" in message["content"].splitlines()[0]

    run(scenario())


def test_more_button_makes_another_batch_with_the_same_options():
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            first = await bot.fake.answer(
                await bot.fake.invoke("bandname", {"prime": "Grave", "count": 2})
            )
            [(custom_id, disabled)] = button_ids(first)
            assert not disabled

            click = await bot.fake.click(int(first["id"]), custom_id, user_id=4242)
            second = await bot.fake.answer(click)

            assert second["id"] != first["id"], "More posts a new answer under the old one"
            assert not is_ephemeral(second)
            assert len(listed_names(second["content"])) == 2
            asked = [(request.prime, request.n) for batch in generator.passes for request in batch]
            assert asked == [("Grave", 2), ("Grave", 2)]
            assert len(button_ids(second)) == 1, "the new answer has its own More button"

    run(scenario())


def test_more_button_is_disabled_in_place_when_it_times_out():
    async def scenario():
        limits = ServiceLimits(more_button_seconds=0.3)
        async with running_bot(StubGenerator(), limits=limits) as bot:
            record = await bot.fake.invoke("bandname")
            message = await bot.fake.answer(record)
            assert button_ids(message)[0][1] is False

            await bot.fake.wait_until(lambda: button_ids(message)[0][1], timeout=3)
            assert len(listed_names(message["content"])) == DEFAULT_COUNT, "names stay"
            assert all(body.get("allowed_mentions") == NO_MENTIONS for body in record.sent_bodies)

    run(scenario())


def test_mentions_in_the_prime_and_in_names_are_shown_literally_and_ping_nobody():
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            for prime in ["@everyone", "<@123>", "<@&456> @here"]:
                record = await bot.fake.invoke("bandname", {"prime": prime, "count": 2})
                message = await bot.fake.answer(record)

                assert all(name.startswith(prime) for name in listed_names(message["content"]))
                assert not re.search(r"(?<!\\)[@<]", message["content"]), "@ and < are escaped"
                assert all(body["allowed_mentions"] == NO_MENTIONS for body in record.sent_bodies)

    run(scenario())


def test_markdown_in_names_is_escaped():
    names = ["**Bold Rot**", "__Under__", "`Code Crypt`", "||Spoiler||", "~~Strike~~",
             "> Quote", "# Heading", "- Listed", "[Link](https://example.com)", "Back\\slash",
             "<:emoji:123>"]  # fmt: skip

    async def scenario():
        generator = StubGenerator()
        generator.fixed_names = names
        async with running_bot(generator) as bot:
            message = await bot.fake.answer(await bot.fake.invoke("bandname", {"count": 10}))
            assert listed_names(message["content"]) == names[:10]
            for line in message["content"].splitlines()[1:]:
                body = line.split(". ", 1)[1]
                unescaped = body.replace("\\\\", "").replace("\\", "")
                assert len(body) > len(unescaped), f"nothing escaped in {line!r}"

    run(scenario())


def test_a_prime_with_control_characters_gets_a_private_hint():
    async def scenario():
        generator = StubGenerator()
        async with running_bot(generator) as bot:
            record = await bot.fake.invoke("bandname", {"prime": "Blo\tod"})
            message = await bot.fake.answer(record)

            assert record.callback["type"] == 4, "answered at once, without deferring"
            assert is_ephemeral(message)
            assert "control characters" in message["content"]
            assert "change it" in message["content"].lower()
            assert generator.passes == []

    run(scenario())


def test_a_generator_refusal_is_private_and_spares_the_rest_of_its_batch():
    async def scenario():
        generator = StubGenerator()
        generator.refused_primes = {"Qx"}
        async with running_bot(generator, batch_window=0.2) as bot:
            refused, fine = await asyncio.gather(
                bot.fake.invoke("bandname", {"prime": "Qx"}, user_id=1),
                bot.fake.invoke("bandname", {"prime": "Ok"}, user_id=2),
            )
            refusal = await bot.fake.answer(refused)
            answer = await bot.fake.answer(fine)

            assert [request.prime for request in generator.passes[0]] == ["Qx", "Ok"]
            assert is_ephemeral(refusal)
            assert "never saw" in refusal["content"]
            assert refused.original_deleted, "the public placeholder is withdrawn"
            assert listed_names(answer["content"])[0].startswith("Ok")
            assert not is_ephemeral(answer)

    run(scenario())


def test_an_unexpected_error_is_logged_and_apologised_for_and_the_bot_keeps_serving(caplog):
    async def scenario():
        generator = StubGenerator()
        generator.explode = True
        async with running_bot(generator) as bot:
            with caplog.at_level(logging.ERROR, logger="bot"):
                apology = await bot.fake.answer(await bot.fake.invoke("bandname"))
            assert is_ephemeral(apology)
            assert "sorry" in apology["content"].lower()
            assert "RuntimeError" not in apology["content"]
            logged = [record for record in caplog.records if record.exc_info]
            assert logged and "told to break" in str(logged[0].exc_info[1])

            generator.explode = False
            answer = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=77))
            assert len(listed_names(answer["content"])) == DEFAULT_COUNT

    run(scenario())
