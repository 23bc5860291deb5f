"""Start the bot: `python -m bot [--sync]`, or the `bandname-bot` console script.

Exit codes: 0 after a clean shutdown (SIGINT or SIGTERM), 1 when Discord refuses the token or the
bot cannot start, 2 when a setting is missing or malformed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
from pathlib import Path

import aiohttp
import discord
from dotenv import find_dotenv, load_dotenv

from bot.batching import BatchGenerator, NameBatcher
from bot.client import StartupError, create_client
from bot.logs import configure_logging
from bot.service import NameService
from bot.settings import Settings, SettingsError, load_settings
from generator.errors import BandnameError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_SETTINGS = 2


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: only `--sync`; everything else is a setting in the environment."""
    parser = argparse.ArgumentParser(
        prog="bandname-bot",
        description="Run the Discord bot that answers /bandname. Settings come from the "
        "environment or a .env file in the current directory (see .env.example).",
    )
    parser.add_argument(
        "--sync",
        action="store_true",
        help="sync the slash commands globally at start-up (needed once after they change; "
        "DISCORD_GUILD_ID syncs one server on every start without this)",
    )
    return parser.parse_args(argv)


def load_generator(checkpoint: Path | None) -> BatchGenerator:
    """Load the name generator once, from `checkpoint` or the shipped model when None."""
    # imported here, not at the top: torch takes a second or two to import, and a process
    # that stops at a bad setting should say so at once
    from generator.name_generator import NameGenerator

    return NameGenerator.load(path=checkpoint)


async def run_until_stopped(client: discord.Client, token: str) -> int:
    """Run `client` until SIGINT or SIGTERM asks it to stop, or it fails; return the exit code."""
    stop_requested = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        # Windows has no loop signal handlers; there Ctrl+C ends the bot as KeyboardInterrupt.
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(signal_number, stop_requested.set)

    async with client:
        running = asyncio.create_task(client.start(token))
        stopping = asyncio.create_task(stop_requested.wait())
        await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping.done():
            log.info("shutting down")
            await client.close()
        stopping.cancel()
        try:
            await running
        except discord.LoginFailure:
            log.error(
                "Discord refused DISCORD_TOKEN: copy the bot's token again from the "
                "Developer Portal (Bot > Reset Token)"
            )
            return EXIT_FAILED
        except StartupError as error:
            log.error("%s", error)
            return EXIT_FAILED
        except (discord.DiscordException, aiohttp.ClientError, OSError) as error:
            log.error("lost the connection to Discord: %s", error)
            return EXIT_FAILED
    log.info("stopped")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Run the bot until it is stopped; return the process exit code."""
    args = parse_args(argv)
    load_dotenv(find_dotenv(usecwd=True))
    try:
        settings = load_settings(os.environ)
    except SettingsError as error:
        configure_logging(logging.INFO, secrets=[])
        log.error("%s", error)
        return EXIT_BAD_SETTINGS
    configure_logging(settings.log_level, secrets=[settings.token])

    try:
        return _load_and_run(settings, sync_globally=args.sync)
    except KeyboardInterrupt:
        # Ctrl+C before the event loop took over the signals (while the model loads, say).
        log.info("interrupted")
        return EXIT_OK


def _load_and_run(settings: Settings, *, sync_globally: bool) -> int:
    try:
        generator = load_generator(settings.checkpoint)
    except BandnameError as error:
        log.error("cannot load the name generator: %s", error)
        return EXIT_FAILED
    log.info("generator loaded from %s", settings.checkpoint or "the shipped checkpoint")

    service = NameService(NameBatcher(generator))
    client = create_client(settings, service, sync_globally=sync_globally)
    return asyncio.run(run_until_stopped(client, settings.token))


if __name__ == "__main__":
    raise SystemExit(main())
