"""The fake Discord: a gateway websocket and the REST routes the bot uses, on 127.0.0.1.

It records what the bot sends (commands, interaction callbacks, message edits, heartbeats) so
tests can check the payloads Discord would have received, and it can invoke commands, click
buttons and drop the gateway connection the way Discord does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from fake_discord import payloads

API_PREFIX = "/api/v10"
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
CLOSE_AUTHENTICATION_FAILED = 4004
CALLBACK_DEFERRED_MESSAGE = 5
WAIT_TICK_SECONDS = 0.05
OPTION_TYPES_BY_PYTHON = {str: 3, int: 4, bool: 5, float: 10}


@dataclass
class InteractionRecord:
    """One interaction the fake sent, and everything the bot did to answer it."""

    payload: dict[str, Any]
    sent_at: float
    acknowledged_at: float | None = None
    callback: dict[str, Any] | None = None
    original_message_id: int | None = None
    # Every message body the bot sent for this interaction: callback data, edits, follow-ups.
    sent_bodies: list[dict[str, Any]] = field(default_factory=list)
    followup_ids: list[int] = field(default_factory=list)
    original_deleted: bool = False
    answered_at: float | None = None

    @property
    def token(self) -> str:
        return self.payload["token"]


@dataclass
class GatewaySession:
    session_id: str
    shard: list[int] | None
    sequence: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None


class FakeDiscord:
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

    # ---- gateway -----------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        await socket.send_json(
            {"op": OP_HELLO, "d": {"heartbeat_interval": self.heartbeat_interval_ms}}
        )
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                continue
            await self._on_gateway_message(socket, json.loads(frame.data))
            await self._note_change()
        return socket

    async def _on_gateway_message(self, socket: web.WebSocketResponse, message: dict) -> None:
        op, data = message["op"], message.get("d")
        if op == OP_HEARTBEAT:
            self.heartbeats.append(time.monotonic())
            await socket.send_json({"op": OP_HEARTBEAT_ACK})
        elif op == OP_IDENTIFY:
            await self._identify(socket, data)
        elif op == OP_RESUME:
            await self._resume(socket, data)

    async def _identify(self, socket: web.WebSocketResponse, data: dict) -> None:
        self.identifies.append(data)
        if data["token"] != self.token:
            await socket.close(code=CLOSE_AUTHENTICATION_FAILED, message=b"Authentication failed.")
            return
        session = GatewaySession(
            session_id=f"session-{payloads.snowflake()}", shard=data.get("shard")
        )
        session.socket = socket
        self.sessions[session.session_id] = session
        self.current = session
        ready = {
            "v": 10,
            "user": self.bot_user,
            "guilds": [],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._send_event(session, "READY", ready)

    async def _resume(self, socket: web.WebSocketResponse, data: dict) -> None:
        self.resumes.append(data)
        session = self.sessions.get(data["session_id"])
        if session is None or data["token"] != self.token:
            await socket.send_json({"op": OP_INVALID_SESSION, "d": False})
            return
        session.socket = socket
        self.current = session
        # Discord replays what the client missed while it was away, then says RESUMED.
        for event in session.events:
            if event["s"] > (data["seq"] or 0):
                await socket.send_json(event)
        await self._send_event(session, "RESUMED", {})

    async def _send_event(self, session: GatewaySession, name: str, data: dict) -> None:
        session.sequence += 1
        event = {"op": OP_DISPATCH, "t": name, "s": session.sequence, "d": data}
        session.events.append(event)
        if session.socket is not None and not session.socket.closed:
            await session.socket.send_json(event)

    async def drop_connection(self, code: int = 4000) -> None:
        """Close the gateway socket as a network hiccup or a Discord restart would."""
        assert self.current is not None and self.current.socket is not None
        socket, self.current.socket = self.current.socket, None
        await socket.close(code=code)

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

    # ---- REST --------------------------------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        parts = path.strip("/").split("/")
        response = await self._route(request, parts)
        await self._note_change()
        if response is None:
            self.unknown_routes.append(f"{request.method} {path}")
            return _json({"message": "404: Not Found", "code": 0}, status=404)
        return response

    async def _route(self, request: web.Request, parts: list[str]) -> web.StreamResponse | None:
        method = request.method
        if parts[0] == "interactions" and method == "POST" and parts[3:] == ["callback"]:
            return await self._interaction_callback(request, parts[2])
        if parts[0] == "webhooks" and len(parts) >= 3:
            return await self._webhook(request, parts[2], parts[3:])
        if parts == ["users", "@me"] and method == "GET":
            self.login_attempts += 1
        if request.headers.get("Authorization") != f"Bot {self.token}":
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        if parts == ["users", "@me"] and method == "GET":
            return _json(self.bot_user)
        if parts == ["oauth2", "applications", "@me"] and method == "GET":
            return _json(payloads.application(self.application_id, self.owner))
        if parts == ["gateway", "bot"] and method == "GET":
            limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})
        if parts[0] == "applications" and parts[-1] == "commands" and method == "PUT":
            guild_id = int(parts[3]) if len(parts) == 5 else None
            return await self._put_commands(request, guild_id)
        return None

    async def _put_commands(self, request: web.Request, guild_id: int | None) -> web.Response:
        if guild_id in self.forbidden_guilds:
            return _json({"message": "Missing Access", "code": 50001}, status=403)
        registered = []
        for command in await request.json():
            stored = dict(command, id=str(payloads.snowflake()), version=str(payloads.snowflake()))
            stored["application_id"] = str(self.application_id)
            if guild_id is not None:
                stored["guild_id"] = str(guild_id)
            registered.append(stored)
        self.commands[guild_id] = registered
        return _json(registered)

    async def _interaction_callback(self, request: web.Request, token: str) -> web.Response:
        record = self.interactions[token]
        if record.callback is not None:
            return _json(
                {"message": "Interaction has already been acknowledged.", "code": 40060}, status=400
            )
        body = await request.json()
        record.callback = body
        record.acknowledged_at = time.monotonic()
        data = body.get("data") or {}
        flags = data.get("flags", 0)
        if body["type"] == CALLBACK_DEFERRED_MESSAGE:
            flags |= payloads.MESSAGE_FLAG_LOADING
        else:
            record.sent_bodies.append(data)
            record.answered_at = time.monotonic()
        created = self._store_message(data, flags)
        record.original_message_id = int(created["id"])
        return _json(
            {
                "interaction": {
                    "id": record.payload["id"],
                    "type": record.payload["type"],
                    "response_message_id": created["id"],
                    "response_message_loading": body["type"] == CALLBACK_DEFERRED_MESSAGE,
                    "response_message_ephemeral": bool(flags & payloads.MESSAGE_FLAG_EPHEMERAL),
                },
                "resource": {"type": body["type"], "message": created},
            }
        )

    async def _webhook(self, request: web.Request, token: str, rest: list[str]) -> web.Response:
        record = self.interactions.get(token)
        if record is None:
            return _json({"message": "Unknown Webhook", "code": 10015}, status=404)
        if rest == [] and request.method == "POST":
            body = await request.json()
            record.sent_bodies.append(body)
            created = self._store_message(body, body.get("flags", 0))
            record.followup_ids.append(int(created["id"]))
            record.answered_at = time.monotonic()
            return _json(created)
        if rest != ["messages", "@original"] or record.original_message_id is None:
            return _json({"message": "Unknown Message", "code": 10008}, status=404)

        stored = self.messages[record.original_message_id]
        if request.method == "GET":
            return _json(stored)
        if request.method == "DELETE":
            record.original_deleted = True
            return web.Response(status=204)
        if request.method == "PATCH":
            body = await request.json()
            record.sent_bodies.append(body)
            for key in ("content", "components", "allowed_mentions", "embeds"):
                if key in body:
                    stored[key] = body[key]
            stored["flags"] = stored["flags"] & ~payloads.MESSAGE_FLAG_LOADING
            if record.answered_at is None:
                record.answered_at = time.monotonic()
            return _json(stored)
        return None

    def _store_message(self, body: dict[str, Any], flags: int) -> dict[str, Any]:
        created = payloads.message(
            payloads.snowflake(),
            channel_id=self.channel_id,
            author=self.bot_user,
            content=body.get("content", ""),
            components=body.get("components"),
            flags=flags,
        )
        self.messages[int(created["id"])] = created
        return created


def _json(data: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only when the content type is exactly this, no charset.
    return web.Response(
        body=json.dumps(data).encode(), status=status, headers={"Content-Type": "application/json"}
    )
