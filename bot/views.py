"""The "More" button under an answer, which asks for another batch with the same options."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord

from bot.options import NameOptions
from bot.replies import NO_MENTIONS, report_unexpected

if TYPE_CHECKING:
    from bot.service import NameService

log = logging.getLogger(__name__)


class MoreNamesView(discord.ui.View):
    """One button; when it times out it is disabled in place, so nobody clicks a dead button.

    The view lives in this process only: after a restart, buttons on older answers stop
    answering until they time out in Discord's eyes, which is why the timeout is kept short.
    """

    def __init__(
        self,
        service: NameService,
        options: NameOptions,
        *,
        origin: discord.Interaction,
        timeout: float,
    ) -> None:
        super().__init__(timeout=timeout)
        self.service = service
        self.options = options
        # The interaction whose answer carries this view: its token is what lets us edit it.
        self.origin = origin

    @discord.ui.button(label="More", style=discord.ButtonStyle.primary)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await self.service.serve(interaction, self.options)

    async def on_timeout(self) -> None:
        self.more.disabled = True
        try:
            await self.origin.edit_original_response(view=self, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as error:
            # The answer may have been deleted, or the interaction token expired; either way
            # there is no button left to disable.
            log.debug("could not disable the More button of %s: %s", self.origin.id, error)

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await report_unexpected(interaction, error)
