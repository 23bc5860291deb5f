"""Exceptions whose messages are written for the person who has to act on them."""

from __future__ import annotations


class BandnameError(Exception):
    """Base class: the message is one line a user can act on, shown without a traceback."""


class DataError(BandnameError):
    """The training or evaluation CSV cannot be used."""


class CheckpointError(BandnameError):
    """A checkpoint file is missing, damaged, unsafe or of a format we do not read."""


def first_line(error: BaseException) -> str:
    """The first line of an exception's message, for one-line reports of library errors."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
