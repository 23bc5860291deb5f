"""Turning generated names into a Discord message that shows every character literally."""

from __future__ import annotations

from collections.abc import Sequence

from bot.options import NameOptions

# A backslash before any ASCII punctuation makes Discord show that character as it is. These are
# the characters that start markdown (emphasis, code, spoilers, quotes, headings, lists, links),
# mentions and custom emoji (`<@123>`, `@everyone`, `<:x:1>`), or autolinks (`https:`).
MARKDOWN_SIGNIFICANT = frozenset("\\*_~|`>#-[]()<@:")

# Discord refuses messages over 2,000 characters. The generator keeps names far shorter, but the
# answer must not depend on that: a longer name is cut and ends in an ellipsis. Even with every
# character escaped (two each), ten such names and the header stay under Discord's limit.
MAX_SHOWN_NAME_LENGTH = 80
ELLIPSIS = "\u2026"

EMPTY_ANSWER = "The model came up empty this time. Press More, or try another prime."


def escape_literal(text: str) -> str:
    """`text` with markdown and mention syntax escaped, so Discord shows it character for character.

    Line breaks become spaces, since a name is one line and a break would let text start a quote
    or a heading of its own.
    """
    pieces = []
    for char in text:
        if char in "\r\n":
            pieces.append(" ")
        elif char in MARKDOWN_SIGNIFICANT:
            pieces.append("\\" + char)
        else:
            pieces.append(char)
    return "".join(pieces)


def shorten(name: str, limit: int = MAX_SHOWN_NAME_LENGTH) -> str:
    """`name`, or its first characters and an ellipsis when it is longer than `limit`."""
    if len(name) <= limit:
        return name
    return name[: limit - 1] + ELLIPSIS


def describe(options: NameOptions, found: int) -> str:
    """The answer's header line: how many names, in which mood and style, from which prime."""
    noun = "name" if found == 1 else "names"
    style = f" {escape_literal(options.genre)}" if options.genre else ""
    header = f"**{found} {options.temperature}{style} band {noun}**"
    if options.prime:
        header += f" starting with \u201c{escape_literal(options.prime)}\u201d"
    return header


def render_names(names: Sequence[str], options: NameOptions) -> str:
    """The message that answers `/bandname`: a header, then the names as a numbered list."""
    if not names:
        return EMPTY_ANSWER
    lines = [describe(options, len(names))]
    lines += [f"{number}. {escape_literal(shorten(name))}" for number, name in enumerate(names, 1)]
    return "\n".join(lines)
