"""Logging for the bot process: discord.py's console setup, with the token scrubbed out."""

from __future__ import annotations

import logging

import discord

REDACTED = "[token hidden]"


class RedactingHandler(logging.StreamHandler):
    """A console handler that replaces every occurrence of the secrets in a formatted line.

    Scrubbing the finished line, traceback included, catches the token wherever it might turn
    up: in a message, in an argument, or in the repr of an exception.
    """

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret]

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return line


def configure_logging(level: int, *, secrets: list[str]) -> None:
    """Send the bot's and discord.py's logs to stderr at `level`, never showing `secrets`."""
    discord.utils.setup_logging(handler=RedactingHandler(secrets), level=level, root=True)
