"""The bot's settings, read from the environment (which `python -m bot` fills from `.env`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

AUTO_SHARD_COUNT = "auto"


class SettingsError(Exception):
    """A setting is missing or malformed; the message names it and says what to put there."""


@dataclass(frozen=True)
class Settings:
    """Everything the bot needs to start; `repr` leaves the token out so it never gets logged."""

    token: str = field(repr=False)
    checkpoint: Path | None = None
    guild_id: int | None = None
    log_level: int = logging.INFO
    sharded: bool = False
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Read `DISCORD_TOKEN`, `BANDNAME_CHECKPOINT`, `DISCORD_GUILD_ID`, `LOG_LEVEL`, `SHARD_COUNT`
    and `SHARD_IDS` from `environ`; raise SettingsError for the first one that is unusable."""
    token = environ.get("DISCORD_TOKEN", "").strip()
    if not token:
        raise SettingsError(
            "DISCORD_TOKEN is not set: put your bot's token in .env (see .env.example)"
        )

    checkpoint_text = environ.get("BANDNAME_CHECKPOINT", "").strip()
    shard_count_text = environ.get("SHARD_COUNT", "").strip()
    shard_count = _parse_shard_count(shard_count_text)
    return Settings(
        token=token,
        checkpoint=Path(checkpoint_text) if checkpoint_text else None,
        guild_id=_parse_snowflake("DISCORD_GUILD_ID", environ.get("DISCORD_GUILD_ID", "")),
        log_level=_parse_log_level(environ.get("LOG_LEVEL", "")),
        sharded=bool(shard_count_text),
        shard_count=shard_count,
        shard_ids=_parse_shard_ids(environ.get("SHARD_IDS", ""), shard_count),
    )


def _parse_snowflake(name: str, text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not text.isdigit() or int(text) == 0:
        raise SettingsError(
            f"{name} must be a server ID (a long number; right-click the server with "
            f"Developer Mode on and pick Copy Server ID), not {text!r}"
        )
    return int(text)


def _parse_log_level(text: str) -> int:
    text = text.strip().upper()
    if not text:
        return logging.INFO
    level = logging.getLevelName(text)
    if not isinstance(level, int):
        raise SettingsError(
            f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR or CRITICAL, not {text!r}"
        )
    return level


def _parse_shard_count(text: str) -> int | None:
    if not text or text.lower() == AUTO_SHARD_COUNT:
        return None
    if not text.isdigit() or int(text) < 1:
        raise SettingsError(
            f"SHARD_COUNT must be a whole number of at least 1, or {AUTO_SHARD_COUNT!r} "
            f"for the count Discord recommends, not {text!r}"
        )
    return int(text)


def _parse_shard_ids(text: str, shard_count: int | None) -> tuple[int, ...] | None:
    text = text.strip()
    if not text:
        return None
    if shard_count is None:
        raise SettingsError("SHARD_IDS needs SHARD_COUNT set to the total number of shards")

    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() for part in parts):
        raise SettingsError(f"SHARD_IDS must be shard numbers separated by commas, not {text!r}")
    shard_ids = tuple(int(part) for part in parts)
    if any(shard_id >= shard_count for shard_id in shard_ids):
        raise SettingsError(
            f"SHARD_IDS {text!r} names a shard past the last one: with SHARD_COUNT={shard_count} "
            f"they run from 0 to {shard_count - 1}"
        )
    if len(set(shard_ids)) != len(shard_ids):
        raise SettingsError(f"SHARD_IDS {text!r} names a shard twice")
    return shard_ids
