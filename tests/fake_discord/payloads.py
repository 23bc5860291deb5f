"""JSON payloads shaped like Discord's: users, the application, messages and interactions."""

from __future__ import annotations

import itertools
import time
from datetime import datetime, timezone
from typing import Any

DISCORD_EPOCH_MS = 1420070400000
MESSAGE_FLAG_EPHEMERAL = 1 << 6
MESSAGE_FLAG_LOADING = 1 << 7
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_MESSAGE_COMPONENT = 3
COMPONENT_BUTTON = 2
GUILD_TEXT_CHANNEL = 0
DM_CHANNEL = 1
ALL_PERMISSIONS = str((1 << 50) - 1)
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024

_sequence = itertools.count()


def snowflake() -> int:
    """A fresh ID whose timestamp is now, as Discord's are."""
    elapsed_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
    return (elapsed_ms << 22) | (next(_sequence) % (1 << 22))


def user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
    }


def member(user_id: int, name: str) -> dict[str, Any]:
    return {
        "user": user(user_id, name),
        "nick": None,
        "roles": [],
        "joined_at": datetime.now(timezone.utc).isoformat(),
        "deaf": False,
        "mute": False,
        "flags": 0,
        "permissions": ALL_PERMISSIONS,
    }


def application(application_id: int, owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(application_id),
        "name": "bandname",
        "icon": None,
        "description": "",
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": owner,
        "verify_key": "0" * 64,
        "flags": 0,
        "team": None,
        "interactions_endpoint_url": None,
    }


def message(
    message_id: int,
    *,
    channel_id: int,
    author: dict[str, Any],
    content: str = "",
    components: list[dict[str, Any]] | None = None,
    flags: int = 0,
) -> dict[str, Any]:
    return {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "author": author,
        "content": content,
        "timestamp": datetime.now(timezone.utc).isoformat(),
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": flags,
        "components": components or [],
    }


def text_channel(channel_id: int, guild_id: int | None) -> dict[str, Any]:
    if guild_id is None:
        return {"id": str(channel_id), "type": DM_CHANNEL, "recipients": []}
    return {
        "id": str(channel_id),
        "type": GUILD_TEXT_CHANNEL,
        "guild_id": str(guild_id),
        "name": "general",
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }


def interaction(
    *,
    kind: int,
    application_id: int,
    data: dict[str, Any],
    user_id: int,
    guild_id: int | None,
    channel_id: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An INTERACTION_CREATE payload from a guild member (or a DM user when guild_id is None)."""
    payload: dict[str, Any] = {
        "id": str(snowflake()),
        "application_id": str(application_id),
        "type": kind,
        "data": data,
        "token": f"interaction-token-{snowflake()}",
        "version": 1,
        "channel_id": str(channel_id),
        "channel": text_channel(channel_id, guild_id),
        "app_permissions": ALL_PERMISSIONS,
        "locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": str(guild_id or user_id)},
        "context": 0 if guild_id else 1,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
        payload["guild_locale"] = "en-US"
        payload["member"] = member(user_id, f"user{user_id}")
    else:
        payload["user"] = user(user_id, f"user{user_id}")
    payload.update(extra or {})
    return payload
