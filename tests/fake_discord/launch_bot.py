"""Run the bot's real entry point against a fake Discord, with the stub generator.

The test starts this as a separate process, so exit codes, signals and the log on stderr are
the real ones; the fake's addresses come from FAKE_DISCORD_API and FAKE_DISCORD_GATEWAY.
"""

from __future__ import annotations

import os
import sys

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

import bot.__main__ as entry_point
from fake_discord.generator_stub import StubGenerator

Route.BASE = os.environ["FAKE_DISCORD_API"]
DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(os.environ["FAKE_DISCORD_GATEWAY"])
entry_point.load_generator = lambda checkpoint: StubGenerator()

sys.exit(entry_point.main(sys.argv[1:]))
