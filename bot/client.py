"""The Discord client: owns the name service, registers `/bandname`, syncs it as asked.

Command sync follows discord.py's advice: never on every start. With `DISCORD_GUILD_ID` set, the
commands are copied to that one server and synced there at start-up (instant, for development);
a global sync happens only when `--sync` asks for it.
"""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.commands import build_bandname_command
from bot.replies import NO_MENTIONS, report_unexpected
from bot.service import NameService
from bot.settings import Settings

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The bot logged in but cannot serve; the message says what to fix."""


class NameCommandTree(app_commands.CommandTree):
    """A command tree that turns any failure into a logged traceback and a private apology."""

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        original = getattr(error, "original", error)
        await report_unexpected(interaction, original)


class BandnameBotMixin:
    """What the plain and the sharded client share; mixed into both below."""

    def __init__(
        self,
        *,
        service: NameService,
        guild_id: int | None = None,
        sync_globally: bool = False,
        **client_options: Any,
    ) -> None:
        # The bot never joins voice, so discord.py's warnings about voice libraries are noise.
        discord.VoiceClient.warn_nacl = discord.VoiceClient.warn_dave = False
        # Slash commands and buttons arrive whatever the intents; `guilds` is the one discord.py
        # needs to keep its view of servers consistent, and it is not a privileged intent.
        super().__init__(
            intents=discord.Intents(guilds=True), allowed_mentions=NO_MENTIONS, **client_options
        )
        self.service = service
        self.guild_id = guild_id
        self.sync_globally = sync_globally
        self.tree = NameCommandTree(self)
        self.tree.add_command(build_bandname_command(service))

    async def setup_hook(self) -> None:
        self.service.start()
        if self.guild_id is not None:
            guild = discord.Object(self.guild_id)
            self.tree.copy_global_to(guild=guild)
            await self._sync(guild)
        if self.sync_globally:
            await self._sync(None)

    async def _sync(self, guild: discord.Object | None) -> None:
        where = "globally" if guild is None else f"to server {guild.id}"
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.Forbidden as error:
            raise StartupError(
                f"Discord would not let the bot sync its commands {where} ({error.text}); "
                f"invite it there with the applications.commands scope"
            ) from None
        log.info(
            "synced %d command(s) %s: %s", len(synced), where, ", ".join(c.name for c in synced)
        )

    async def close(self) -> None:
        await super().close()
        await self.service.close()


class BandnameClient(BandnameBotMixin, discord.Client):
    """The bot on a single gateway connection."""


class ShardedBandnameClient(BandnameBotMixin, discord.AutoShardedClient):
    """The bot on several gateway connections (shards), all or some of them in this process."""


def create_client(
    settings: Settings, service: NameService, *, sync_globally: bool = False
) -> discord.Client:
    """The client `settings` call for: sharded when `SHARD_COUNT` is set, plain otherwise."""
    common: dict[str, Any] = {
        "service": service,
        "guild_id": settings.guild_id,
        "sync_globally": sync_globally,
    }
    if not settings.sharded:
        return BandnameClient(**common)
    return ShardedBandnameClient(
        shard_count=settings.shard_count,
        shard_ids=list(settings.shard_ids) if settings.shard_ids else None,
        **common,
    )
