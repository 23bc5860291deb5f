"""The fake Discord: a gateway websocket and the REST routes the bot uses, on 127.0.0.1.

It records what the bot sends (commands, interaction callbacks, message edits, heartbeats) so
tests can check the payloads Discord would have received, and it can invoke commands, click
buttons and drop the gateway connection the way Discord does.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiohttp import web

from fake_discord import payloads
from fake_discord.gateway import FakeGateway, GatewaySession
from fake_discord.rest import FakeRest, InteractionRecord

API_PREFIX = "/api/v10"
WAIT_TICK_SECONDS = 0.05
OPTION_TYPES_BY_PYTHON = {str: 3, int: 4, bool: 5, float: 10}


class FakeDiscord(FakeGateway, FakeRest):
    """Serve REST under `api_base` and the gateway at `gateway_url`, both on 127.0.0.1."""

    def __init__(self, *, token: str, heartbeat_interval_ms: int = 41250) -> None:
        self.token = token
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.application_id = payloads.snowflake()
        self.bot_user = payloads.user(self.application_id, "bandname", bot=True)
        self.owner = payloads.user(payloads.snowflake(), "owner")
        self.channel_id = payloads.snowflake()
        self.forbidden_guilds: set[int] = set()

        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        self.heartbeats: list[float] = []
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.unknown_routes: list[str] = []
        self.login_attempts = 0
        self.sessions: dict[str, GatewaySession] = {}
        self.current: GatewaySession | None = None

        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return self.base_url + API_PREFIX

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for session in self.sessions.values():
            if session.socket is not None and not session.socket.closed:
                await session.socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_until(self, condition, timeout: float = 5.0) -> None:
        """Wait until `condition()` holds: rechecked whenever the bot does something, and on a
        short tick for conditions that change on the bot's side alone."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the fake Discord waited in vain")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), min(left, WAIT_TICK_SECONDS))

    async def _note_change(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- invoking the bot --------------------------------------------------------------------

    def command(self, name: str, guild_id: int | None = None) -> dict[str, Any]:
        """The registered command called `name` (global, or for `guild_id`)."""
        matches = [c for c in self.commands.get(guild_id, []) if c["name"] == name]
        if not matches:
            raise LookupError(f"no command {name!r} registered for guild {guild_id}")
        return matches[0]

    async def invoke(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        *,
        user_id: int = 1001,
        guild_id: int | None = 2002,
        command_guild: int | None = None,
    ) -> InteractionRecord:
        """Send INTERACTION_CREATE for `/name`, as a user typing it would."""
        command = self.command(name, command_guild)
        sent_options = [
            {"name": key, "type": OPTION_TYPES_BY_PYTHON[type(value)], "value": value}
            for key, value in (options or {}).items()
        ]
        data = {"id": command["id"], "name": name, "type": 1, "options": sent_options}
        if command_guild is not None:
            data["guild_id"] = str(command_guild)
        payload = payloads.interaction(
            kind=payloads.INTERACTION_APPLICATION_COMMAND,
            application_id=self.application_id,
            data=data,
            user_id=user_id,
            guild_id=guild_id,
            channel_id=self.channel_id,
        )
        return await self._send_interaction(payload)

    async def click(
        self, message_id: int, custom_id: str, *, user_id: int = 1001, guild_id: int | None = 2002
    ) -> InteractionRecord:
        """Send INTERACTION_CREATE for a button press on message `message_id`."""
        payload = payloads.interaction(
            kind=payloads.INTERACTION_MESSAGE_COMPONENT,
            application_id=self.application_id,
            data={"custom_id": custom_id, "component_type": payloads.COMPONENT_BUTTON},
            user_id=user_id,
            guild_id=guild_id,
            channel_id=self.channel_id,
            extra={"message": self.messages[message_id]},
        )
        return await self._send_interaction(payload)

    async def _send_interaction(self, payload: dict[str, Any]) -> InteractionRecord:
        record = InteractionRecord(payload=payload, sent_at=time.monotonic())
        self.interactions[record.token] = record
        assert self.current is not None, "the bot is not connected"
        await self._send_event(self.current, "INTERACTION_CREATE", payload)
        return record

    async def answer(self, record: InteractionRecord, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the message that answers `record`, and return it as Discord stores it."""
        await self.wait_until(lambda: record.answered_at is not None, timeout)
        return self.answer_message(record)

    def answer_message(self, record: InteractionRecord) -> dict[str, Any]:
        """The message people see as the answer: the latest follow-up, else the original."""
        if record.followup_ids:
            return self.messages[record.followup_ids[-1]]
        assert record.original_message_id is not None
        return self.messages[record.original_message_id]
