"""bandname's generator: a character-level MI-LSTM that invents death metal band names.

The package's exports are imported on first use: `generator.errors` and `generator.request`
stay free of torch, so a process that only validates input or reports an error starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from generator.errors import BandnameError, CheckpointError, DataError
    from generator.name_generator import DEFAULT_CHECKPOINT, NameGenerator
    from generator.request import GenerationRequest

_EXPORTS = {
    "BandnameError": "generator.errors",
    "CheckpointError": "generator.errors",
    "DataError": "generator.errors",
    "DEFAULT_CHECKPOINT": "generator.name_generator",
    "NameGenerator": "generator.name_generator",
    "GenerationRequest": "generator.request",
}

__all__ = [
    "DEFAULT_CHECKPOINT",
    "BandnameError",
    "CheckpointError",
    "DataError",
    "GenerationRequest",
    "NameGenerator",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'generator' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
