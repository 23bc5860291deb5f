"""End to end under load: 50 requests at once, heartbeats, a dropped gateway, busy, cooldown."""

from __future__ import annotations

import asyncio

from fake_discord.generator_stub import StubGenerator
from fake_discord.harness import button_ids, is_ephemeral, listed_names, run, running_bot

from bot.service import BUSY_MESSAGE, ServiceLimits

DISCORD_DEADLINE_SECONDS = 3.0
HEARTBEAT_MS = 200
# Each stub pass holds its thread this long: were it run on the event loop, the heartbeat would
# miss a beat by about as much, which the gap bound below would catch.
SLOW_PASS_SECONDS = 0.8
MAX_HEARTBEAT_GAP_SECONDS = 0.55


def test_fifty_concurrent_invocations_are_answered_in_time_while_heartbeats_keep_rhythm():
    async def scenario():
        generator = StubGenerator(pass_seconds=SLOW_PASS_SECONDS)
        async with running_bot(generator, heartbeat_interval_ms=HEARTBEAT_MS) as bot:
            started = len(bot.fake.heartbeats)
            records = await asyncio.gather(
                *(bot.fake.invoke("bandname", {"count": 3}, user_id=500 + i) for i in range(50))
            )
            messages = await asyncio.gather(*(bot.fake.answer(record) for record in records))
            await asyncio.sleep(HEARTBEAT_MS / 1000)

            for record, message in zip(records, messages, strict=True):
                assert record.acknowledged_at - record.sent_at < DISCORD_DEADLINE_SECONDS
                assert record.answered_at - record.sent_at < DISCORD_DEADLINE_SECONDS
                assert len(listed_names(message["content"])) == 3

            assert len(generator.passes) <= 5, "requests that arrive together share a pass"
            assert sum(len(batch) for batch in generator.passes) == 50
            assert "MainThread" not in generator.threads

            beats = bot.fake.heartbeats[started:]
            gaps = [later - earlier for earlier, later in zip(beats, beats[1:], strict=False)]
            assert len(beats) >= 4, "heartbeats went on while the names were made"
            assert max(gaps) < MAX_HEARTBEAT_GAP_SECONDS, f"heartbeat stalled: {max(gaps):.2f} s"

    run(scenario())


def test_a_dropped_gateway_connection_is_resumed_and_answers_continue():
    async def scenario():
        async with running_bot(StubGenerator()) as bot:
            before = await bot.fake.answer(await bot.fake.invoke("bandname", {"count": 1}))
            assert len(listed_names(before["content"])) == 1

            await bot.fake.drop_connection()
            # Sent while the bot is away: Discord replays it once the session is resumed.
            missed = await bot.fake.invoke("bandname", {"count": 2}, user_id=31)
            await bot.fake.wait_until(lambda: bot.fake.resumes, timeout=10)
            after = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=32))

            assert len(bot.fake.identifies) == 1, "resumed, not identified again"
            assert bot.fake.resumes[0]["session_id"] == bot.fake.current.session_id
            assert len(listed_names((await bot.fake.answer(missed))["content"])) == 2
            assert not is_ephemeral(after)

    run(scenario())


def test_a_full_queue_answers_busy_instead_of_falling_over():
    async def scenario():
        generator = StubGenerator(pass_seconds=0.5)
        async with running_bot(generator, max_queued=1) as bot:
            first = await bot.fake.invoke("bandname", user_id=1)
            await bot.fake.wait_until(lambda: first.acknowledged_at is not None)
            turned_away = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=2))
            served = await bot.fake.answer(first)

            assert is_ephemeral(turned_away)
            assert turned_away["content"] == BUSY_MESSAGE
            assert listed_names(served["content"])
            later = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=3))
            assert listed_names(later["content"]), "once the queue drains, requests are served"

    run(scenario())


def test_the_per_user_cooldown_answers_privately_with_the_wait():
    async def scenario():
        limits = ServiceLimits(cooldown_uses=2, cooldown_seconds=30)
        async with running_bot(StubGenerator(), limits=limits) as bot:
            for _ in range(2):
                served = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=9))
                assert not is_ephemeral(served)

            cooled = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=9))
            assert is_ephemeral(cooled)
            wait = int("".join(ch for ch in cooled["content"] if ch.isdigit()))
            assert 25 <= wait <= 30

            message = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=9))
            [(custom_id, _)] = button_ids(served)
            clicked = await bot.fake.answer(
                await bot.fake.click(int(served["id"]), custom_id, user_id=9)
            )
            other_user = await bot.fake.answer(await bot.fake.invoke("bandname", user_id=10))

            assert is_ephemeral(message)
            assert is_ephemeral(clicked), "the More button counts against the same limit"
            assert not is_ephemeral(other_user)

    run(scenario())
