"""Serving one request for names, from the slash command or the More button.

The order matters for Discord's 3-second deadline: the cheap checks answer at once, then the
interaction is deferred (acknowledged) before any generation, and the names replace the
placeholder when they are ready.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import discord

from bot.batching import GENERATOR_REFUSALS, GeneratorBusy, NameBatcher
from bot.cooldown import UserCooldown
from bot.formatting import escape_literal, render_names
from bot.options import NameOptions
from bot.replies import NO_MENTIONS, reply_privately, withdraw
from bot.views import MoreNamesView

log = logging.getLogger(__name__)

DEFAULT_COOLDOWN_USES = 5
DEFAULT_COOLDOWN_SECONDS = 30.0
# Interaction tokens last 15 minutes; the button must time out before its answer can no longer be
# edited, or it could not be disabled.
DEFAULT_MORE_BUTTON_SECONDS = 600.0

BUSY_MESSAGE = "I'm buried in requests right now. Please try again in a few seconds."


@dataclass(frozen=True)
class ServiceLimits:
    """How often one person may ask, and how long the More button keeps working."""

    cooldown_uses: int = DEFAULT_COOLDOWN_USES
    cooldown_seconds: float = DEFAULT_COOLDOWN_SECONDS
    more_button_seconds: float = DEFAULT_MORE_BUTTON_SECONDS


class NameService:
    """Checks a request, queues it for the generator and posts the answer."""

    def __init__(self, batcher: NameBatcher, limits: ServiceLimits | None = None) -> None:
        self.batcher = batcher
        self.limits = limits or ServiceLimits()
        self.cooldown = UserCooldown(self.limits.cooldown_uses, self.limits.cooldown_seconds)

    def start(self) -> None:
        """Start the batcher; call from inside the running event loop."""
        self.batcher.start()

    async def close(self) -> None:
        """Stop generating; requests still queued are dropped."""
        await self.batcher.close()

    async def serve(self, interaction: discord.Interaction, options: NameOptions) -> None:
        """Answer `interaction` with names for `options`, or privately say why not."""
        started = time.perf_counter()
        try:
            request = options.to_request()
        except ValueError as problem:
            log.info("refused %s: %s", _describe(interaction, options), problem)
            # The message may quote what was typed, which must not turn into markdown.
            await reply_privately(
                interaction,
                f"That won't work: {escape_literal(str(problem))}. Change it and try again.",
            )
            return
        # The request holds the genre as the tag it stands for ("Brutal" is "brutal"); the header,
        # the log and the More button show that tag.
        options = replace(options, genre=request.genre)

        wait_seconds = self.cooldown.try_use(interaction.user.id)
        if wait_seconds > 0:
            log.info("cooled down %s for %.1f s", _describe(interaction, options), wait_seconds)
            await reply_privately(
                interaction,
                f"Easy there! You can ask again in {math.ceil(wait_seconds)} seconds.",
            )
            return

        try:
            answer = self.batcher.submit(request)
        except GeneratorBusy as busy:
            log.warning("busy, turned away %s: %s", _describe(interaction, options), busy)
            await reply_privately(interaction, BUSY_MESSAGE)
            return

        try:
            await interaction.response.defer(thinking=True)
        except BaseException:
            answer.cancel()
            raise

        try:
            names = await answer
        except GENERATOR_REFUSALS as refusal:
            log.info("generator refused %s: %s", _describe(interaction, options), refusal)
            await withdraw(
                interaction, f"The generator can't do that: {escape_literal(str(refusal))}"
            )
            return

        view = MoreNamesView(
            self, options, origin=interaction, timeout=self.limits.more_button_seconds
        )
        await interaction.edit_original_response(
            content=render_names(names, options), view=view, allowed_mentions=NO_MENTIONS
        )
        log.info(
            "served %s: %d names in %.0f ms",
            _describe(interaction, options),
            len(names),
            (time.perf_counter() - started) * 1000,
        )


def _describe(interaction: discord.Interaction, options: NameOptions) -> str:
    source = (
        "/bandname" if interaction.type is discord.InteractionType.application_command else "More"
    )
    return (
        f"{source} guild={interaction.guild_id} prime={options.prime!r} "
        f"count={options.count} temperature={options.temperature} genre={options.genre!r}"
    )
