"""The fake REST API: login, application info, command sync, interaction answers, webhooks."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from fake_discord import payloads

CALLBACK_DEFERRED_MESSAGE = 5


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


class FakeRest:
    """The HTTP side of `FakeDiscord`; it keeps its state on the `FakeDiscord` instance."""

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
