"""End to end: login, how `/bandname` is registered, the sync policy, sharding, a refused token."""

from __future__ import annotations

import discord
import pytest
from fake_discord.generator_stub import StubGenerator
from fake_discord.harness import TOKEN, listed_names, run, running_bot

from bot.client import StartupError
from bot.options import DEFAULT_COUNT, MAX_COUNT, TEMPERATURES
from bot.settings import Settings
from generator.request import MAX_PRIME_LENGTH

STRING, INTEGER = 3, 4
GUILD_ID = 3003


def test_login_registers_bandname_with_typed_bounded_described_options():
    async def scenario():
        async with running_bot(StubGenerator(), sync_globally=True) as bot:
            assert bot.fake.login_attempts == 1
            assert bot.fake.identifies[0]["token"] == TOKEN
            (command,) = bot.fake.commands[None]
            return command

    command = run(scenario())
    assert command["name"] == "bandname"
    assert command["description"]
    options = {option["name"]: option for option in command["options"]}
    assert list(options) == ["prime", "count", "temperature", "genre"]

    prime, count, temperature = options["prime"], options["count"], options["temperature"]
    assert (prime["type"], prime["max_length"], prime["required"]) == (
        STRING,
        MAX_PRIME_LENGTH,
        False,
    )
    assert (count["type"], count["min_value"], count["max_value"]) == (INTEGER, 1, MAX_COUNT)
    assert not count["required"]
    assert str(DEFAULT_COUNT) in count["description"]
    assert temperature["type"] == STRING
    assert [choice["value"] for choice in temperature["choices"]] == list(TEMPERATURES)
    for option in options.values():
        assert option["description"].strip() not in ("", "\u2026"), option["name"]


def test_without_sync_or_guild_nothing_is_synced():
    async def scenario():
        async with running_bot(StubGenerator(), sync_globally=False) as bot:
            return bot.fake.commands

    assert run(scenario()) == {}


def test_a_guild_id_syncs_that_server_at_start_up_and_its_commands_answer():
    async def scenario():
        settings = Settings(token=TOKEN, guild_id=GUILD_ID)
        async with running_bot(StubGenerator(), settings=settings, sync_globally=False) as bot:
            assert list(bot.fake.commands) == [GUILD_ID], "the guild only, not globally"
            record = await bot.fake.invoke(
                "bandname", {"count": 2}, guild_id=GUILD_ID, command_guild=GUILD_ID
            )
            message = await bot.fake.answer(record)
            assert len(listed_names(message["content"])) == 2

    run(scenario())


def test_a_guild_that_refuses_the_sync_stops_start_up_with_a_clear_error():
    async def scenario():
        settings = Settings(token=TOKEN, guild_id=GUILD_ID)
        refusing = frozenset({GUILD_ID})
        async with running_bot(StubGenerator(), settings=settings, forbidden_guilds=refusing):
            pass

    with pytest.raises(StartupError, match="applications.commands"):
        run(scenario())


def test_a_refused_token_fails_login():
    async def scenario():
        async with running_bot(StubGenerator(), token="not-the-token"):
            pass

    with pytest.raises(discord.LoginFailure):
        run(scenario())


@pytest.mark.parametrize(
    ("shard_count", "shard_ids", "expected_shard"),
    [(2, (1,), [1, 2]), (None, None, [0, 1])],
    ids=["SHARD_IDS=1 of 2", "SHARD_COUNT=auto"],
)
def test_sharded_runs_the_shards_it_is_given_and_answers(shard_count, shard_ids, expected_shard):
    async def scenario():
        settings = Settings(token=TOKEN, sharded=True, shard_count=shard_count, shard_ids=shard_ids)
        async with running_bot(StubGenerator(), settings=settings) as bot:
            assert isinstance(bot.client, discord.AutoShardedClient)
            assert [identify["shard"] for identify in bot.fake.identifies] == [expected_shard]
            message = await bot.fake.answer(await bot.fake.invoke("bandname", {"count": 1}))
            assert len(listed_names(message["content"])) == 1

    run(scenario())
