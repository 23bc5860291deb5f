"""Running the real bot client against `FakeDiscord` inside one test's event loop."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.batching import DEFAULT_WINDOW_SECONDS, NameBatcher
from bot.client import create_client
from bot.service import NameService, ServiceLimits
from bot.settings import Settings
from fake_discord import payloads
from fake_discord.server import FakeDiscord

TOKEN = "MTAfake.bot-token.for-tests-only"


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord):
    """Point discord.py's REST base and default gateway at `fake` for the duration."""
    saved = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = saved


@dataclass
class RunningBot:
    fake: FakeDiscord
    client: discord.Client
    service: NameService
    task: asyncio.Task


@contextlib.asynccontextmanager
async def running_bot(
    generator,
    *,
    settings: Settings | None = None,
    limits: ServiceLimits | None = None,
    max_queued: int = 100,
    batch_window: float = DEFAULT_WINDOW_SECONDS,
    sync_globally: bool = True,
    heartbeat_interval_ms: int = 41250,
    token: str = TOKEN,
    forbidden_guilds: frozenset[int] = frozenset(),
) -> AsyncIterator[RunningBot]:
    """The bot, logged in to a fresh fake Discord, with its commands registered and READY seen."""
    fake = FakeDiscord(token=TOKEN, heartbeat_interval_ms=heartbeat_interval_ms)
    fake.forbidden_guilds = set(forbidden_guilds)
    await fake.start()
    service = NameService(
        NameBatcher(generator, max_queued=max_queued, window_seconds=batch_window), limits
    )
    client = create_client(settings or Settings(token=token), service, sync_globally=sync_globally)
    with pointed_at(fake):
        task = asyncio.create_task(client.start(token))
        try:
            await fake.wait_until(lambda: fake.current is not None or task.done())
            if task.done():
                task.result()
            yield RunningBot(fake, client, service, task)
        finally:
            await client.close()
            await asyncio.gather(task, return_exceptions=True)
            await fake.stop()


def run(scenario, timeout: float = 30.0):
    """Run an async test scenario to completion in a fresh event loop."""
    return asyncio.run(asyncio.wait_for(scenario, timeout))


def shown_text(markdown: str) -> str:
    """What Discord displays for `markdown` made of escapes only: each `\\x` shows as `x`."""
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", markdown)


def listed_names(content: str) -> list[str]:
    """The names of a `/bandname` answer, as Discord displays them."""
    lines = content.splitlines()[1:]
    names = []
    for number, line in enumerate(lines, 1):
        prefix = f"{number}. "
        assert line.startswith(prefix), f"line {number} is not numbered: {line!r}"
        names.append(shown_text(line[len(prefix) :]))
    return names


def is_ephemeral(message: dict) -> bool:
    return bool(message["flags"] & payloads.MESSAGE_FLAG_EPHEMERAL)


def button_ids(message: dict) -> list[tuple[str, bool]]:
    """(custom_id, disabled) of every button on `message`."""
    return [
        (button["custom_id"], button.get("disabled", False))
        for row in message["components"]
        for button in row["components"]
    ]
