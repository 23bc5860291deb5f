"""Private answers: telling one person what went wrong without showing it to the channel."""

from __future__ import annotations

import logging

import discord

log = logging.getLogger(__name__)

# Set on every message the bot sends, so no prime and no generated name can ever ping anyone.
NO_MENTIONS = discord.AllowedMentions.none()

APOLOGY = "Sorry, something broke while making your names. It has been logged; please try again."


async def reply_privately(interaction: discord.Interaction, text: str) -> None:
    """Answer only the person who asked, whether or not the interaction was acknowledged yet."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_MENTIONS)


async def withdraw(interaction: discord.Interaction, text: str) -> None:
    """Replace a public "thinking…" placeholder with a private message to the person who asked.

    A deferred answer is public; when it turns out to be an error, the placeholder is deleted so
    the channel is not left with a message that thinks forever.
    """
    if interaction.response.is_done():
        try:
            await interaction.delete_original_response()
        except discord.HTTPException as error:
            log.debug(
                "could not delete the placeholder of interaction %s: %s", interaction.id, error
            )
    await reply_privately(interaction, text)


async def report_unexpected(interaction: discord.Interaction, error: BaseException) -> None:
    """Log an unexpected failure with its traceback and give the user a short private apology."""
    log.error(
        "unexpected error serving interaction %s in guild %s",
        interaction.id,
        interaction.guild_id,
        exc_info=error,
    )
    try:
        await withdraw(interaction, APOLOGY)
    except discord.HTTPException as reply_error:
        log.warning("could not apologise for interaction %s: %s", interaction.id, reply_error)
