"""The `/bandname` slash command: its options as Discord shows them, handed to the service."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.options import DEFAULT_COUNT, DEFAULT_MOOD, MAX_COUNT, TEMPERATURES, NameOptions
from generator.genres import TAGS
from generator.request import MAX_PRIME_LENGTH

if TYPE_CHECKING:
    from bot.service import NameService

TEMPERATURE_CHOICES = [app_commands.Choice(name=mood, value=mood) for mood in TEMPERATURES]
GENRE_CHOICES = [app_commands.Choice(name=tag, value=tag) for tag in TAGS]


def build_bandname_command(service: NameService) -> app_commands.Command:
    """The `/bandname` command, answering through `service`."""

    @app_commands.command(name="bandname", description="Invent fresh death metal band names.")
    @app_commands.describe(
        prime=f"Letters every name starts with (at most {MAX_PRIME_LENGTH}).",
        count=f"How many names to invent, 1 to {MAX_COUNT} (default {DEFAULT_COUNT}).",
        temperature=f"How daring the names are (default {DEFAULT_MOOD}).",
        genre="The style of death metal the names should fit (default: any style).",
    )
    @app_commands.choices(temperature=TEMPERATURE_CHOICES, genre=GENRE_CHOICES)
    async def bandname(
        interaction: discord.Interaction,
        prime: app_commands.Range[str, None, MAX_PRIME_LENGTH] | None = None,
        count: app_commands.Range[int, 1, MAX_COUNT] = DEFAULT_COUNT,
        temperature: str = DEFAULT_MOOD,
        genre: str | None = None,
    ) -> None:
        options = NameOptions(prime=prime or "", count=count, temperature=temperature, genre=genre)
        await service.serve(interaction, options)

    return bandname
