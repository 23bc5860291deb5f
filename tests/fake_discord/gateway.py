"""The fake gateway: HELLO, IDENTIFY/READY, heartbeats, RESUME/RESUMED and dispatched events."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from fake_discord import payloads

OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_RESUME = 6
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11
CLOSE_AUTHENTICATION_FAILED = 4004


@dataclass
class GatewaySession:
    """One identified connection: its events are kept so a RESUME can replay what was missed."""

    session_id: str
    shard: list[int] | None
    sequence: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    socket: web.WebSocketResponse | None = None


class FakeGateway:
    """The websocket side of `FakeDiscord`; it keeps its state on the `FakeDiscord` instance."""

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
