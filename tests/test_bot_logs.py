"""The bot's log handler scrubs the token from every line, tracebacks included."""

from __future__ import annotations

import io
import logging

from bot.logs import REDACTED, RedactingHandler

SECRET = "MTAsecret.token-value.xyz"


def logged_text(emit) -> str:
    stream = io.StringIO()
    handler = RedactingHandler([SECRET, ""])
    handler.setStream(stream)
    logger = logging.getLogger("test_bot_logs")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return stream.getvalue()


def test_the_token_in_a_message_or_its_arguments_is_replaced():
    text = logged_text(lambda log: log.warning("connecting with %s and " + SECRET, SECRET))
    assert SECRET not in text
    assert text.count(REDACTED) == 2


def test_the_token_in_a_traceback_is_replaced():
    def emit(log):
        try:
            raise RuntimeError(f"bad token {SECRET}")
        except RuntimeError:
            log.exception("failed")

    text = logged_text(emit)
    assert "RuntimeError" in text and "Traceback" in text
    assert SECRET not in text


def test_lines_without_the_token_pass_unchanged():
    assert logged_text(lambda log: log.warning("served %d names", 5)) == "served 5 names\n"
