"""bandname's generator: a character-level MI-LSTM that invents death metal band names."""

from generator.errors import BandnameError, CheckpointError, DataError
from generator.name_generator import DEFAULT_CHECKPOINT, NameGenerator
from generator.request import GenerationRequest

__all__ = [
    "DEFAULT_CHECKPOINT",
    "BandnameError",
    "CheckpointError",
    "DataError",
    "GenerationRequest",
    "NameGenerator",
]
