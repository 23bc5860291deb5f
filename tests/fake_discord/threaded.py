"""The fake Discord on a thread of its own, for tests that run the bot as a separate process."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from fake_discord.server import FakeDiscord

CALL_TIMEOUT_SECONDS = 20.0


class FakeDiscordThread:
    """`with FakeDiscordThread(token=...) as discord:` serves until the block ends."""

    def __init__(self, **fake_options: Any) -> None:
        self._fake_options = fake_options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.fake: FakeDiscord | None = None

    def __enter__(self) -> FakeDiscordThread:
        self._thread.start()
        self.fake = self.call(self._start)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.call(lambda fake: fake.stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    async def _start(self, _: None) -> FakeDiscord:
        fake = FakeDiscord(**self._fake_options)
        await fake.start()
        return fake

    def call(self, action: Callable[[FakeDiscord], Awaitable[Any]]) -> Any:
        """Run `action(fake)` on the fake's loop and return its result."""
        future = asyncio.run_coroutine_threadsafe(action(self.fake), self._loop)
        return future.result(CALL_TIMEOUT_SECONDS)
