"""Reading band names from a CSV and cleaning them into training material.

Everything that decides what counts as "the same name" lives here, so that training, the
freshness filter and evaluation agree on it.
"""

from __future__ import annotations

import logging
import random
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from generator.errors import DataError, first_line

log = logging.getLogger(__name__)

# A handful of rows in the data are sentences rather than names; past this length an entry
# teaches the model nothing about band names and only stretches every padded batch.
MAX_NAME_LENGTH = 64

# Text files never hold NUL bytes; finding one in the first few kilobytes means "not a CSV".
BINARY_SNIFF_BYTES = 8192

# Unicode categories that never belong in a displayed name: control characters, format
# characters such as the soft hyphen, and unassigned or private-use code points.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cn", "Co", "Cs"})


def clean_name(raw: str) -> str:
    """Normalize one raw entry: NFC form, invisible characters dropped, whitespace collapsed."""
    text = unicodedata.normalize("NFC", raw)
    text = "".join(ch for ch in text if unicodedata.category(ch) not in _INVISIBLE_CATEGORIES)
    return " ".join(text.split())


def freshness_key(name: str) -> str:
    """The form in which two names count as the same band: case and accents ignored."""
    decomposed = unicodedata.normalize("NFKD", name)
    without_marks = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(without_marks.casefold().split())


def read_column(path: str | Path, column: str = "name") -> list[str]:
    """Read one text column of a CSV with pandas, raising DataError with a usable message."""
    return read_columns(path, [column])[column]


def read_columns(
    path: str | Path, required: list[str], optional: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Read text columns of a CSV: the required ones must be there, the optional may be."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    with open(path, "rb") as handle:
        if b"\x00" in handle.read(BINARY_SNIFF_BYTES):
            raise DataError(f"{path} is a binary file, not a CSV file")
    wanted = {*required, *optional}
    try:
        frame = pd.read_csv(
            path, usecols=lambda name: name in wanted, dtype=str, keep_default_na=False
        )
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a UTF-8 text CSV file") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        raise DataError(f"{path} could not be read as CSV: {first_line(error)}") from None
    for column in required:
        if column not in frame.columns:
            available = ", ".join(pd.read_csv(path, nrows=0).columns.astype(str)) or "none"
            raise DataError(f"{path} has no column {column!r} (columns: {available})")
    return {column: frame[column].tolist() for column in wanted if column in frame.columns}


def prepare_names(raw_names: Iterable[str], keep_duplicates: bool = False) -> list[str]:
    """Clean raw entries, drop empty and overlong ones, and (by default) deduplicate.

    Deduplication keeps the first spelling of each cleaned name, so the order of the file
    survives and the result does not depend on hash seeds.
    """
    raw_names = list(raw_names)
    cleaned = [clean_name(name) for name in raw_names]
    usable = [name for name in cleaned if 0 < len(name) <= MAX_NAME_LENGTH]
    kept = usable if keep_duplicates else list(dict.fromkeys(usable))
    log.info(
        "read %d entries: dropped %d empty, %d over %d characters, %d duplicates; %d names kept",
        len(raw_names),
        sum(1 for name in cleaned if not name),
        sum(1 for name in cleaned if len(name) > MAX_NAME_LENGTH),
        MAX_NAME_LENGTH,
        len(usable) - len(kept),
        len(kept),
    )
    if not kept:
        raise DataError("no usable names left after cleaning (all entries empty or too long)")
    return kept


def load_names(path: str | Path, column: str = "name", keep_duplicates: bool = False) -> list[str]:
    """Read and clean the names of a CSV in one call."""
    return prepare_names(read_column(path, column), keep_duplicates=keep_duplicates)


@dataclass(frozen=True)
class NameSplit:
    train: list[str]
    validation: list[str]


def split_names(names: list[str], validation_fraction: float = 0.05, seed: int = 0) -> NameSplit:
    """Split off a validation set that depends only on the names and the seed.

    Copies of a name (kept with keep_duplicates) always land on the same side, so validation
    never scores a name the model has trained on.
    """
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {validation_fraction}")
    distinct = sorted(set(names))
    random.Random(seed).shuffle(distinct)
    size = round(len(distinct) * validation_fraction)
    if validation_fraction > 0 and len(distinct) > 1:
        size = max(1, size)
    held_out = set(distinct[:size])
    return NameSplit(
        train=[name for name in names if name not in held_out],
        validation=[name for name in names if name in held_out],
    )
