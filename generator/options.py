"""What a training run is asked to do, and the files it writes.

A run writes three files next to each other, for `--out checkpoints/bandname.safetensors`:
  bandname.safetensors    the best model so far by validation bits per character
  bandname.resume         the latest full training state, for --resume (not for shipping)
  bandname.history.json   per-step training loss and per-epoch figures, ready to plot
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from generator.errors import BandnameError


@dataclass(frozen=True)
class TrainingOptions:
    data: str = "data/bands.csv"
    column: str = "name"
    cell: str = "milstm"
    hidden_size: int = 1024
    embedding_size: int = 64
    dropout: float = 0.0
    weight_drop: float = 0.0  # DropConnect on the recurrent weights
    layer_norm: bool = False  # layer-normalize U h in the MI-LSTM
    average_decay: float = 0.0  # decay of the moving average of the weights; 0 for none
    epochs: int = 3
    batch_size: int = 64
    lr: float = 5e-4
    lr_decay: float = 0.25
    clip: float = 5.0
    validation_fraction: float = 0.05
    keep_duplicates: bool = False
    min_char_count: int = 3
    seed: int = 0  # weights, batch order, dropout
    split_seed: int = 0  # which names are held out: runs with other seeds share one split
    device: str = "auto"
    precision: str = "fp32"
    out: str = "checkpoints/bandname.safetensors"
    samples: int = 5
    genre_column: str = "genre"  # "" trains without style tags
    tag_dropout: float = 0.3  # share of names trained with their tags hidden
    ngram_targets: float = 0.0  # weight of a held-out n-gram's predictions in each target

    @classmethod
    def saved_in(cls, training: dict) -> TrainingOptions:
        """The options recorded in a checkpoint's training metadata."""
        options = dict(training["options"])
        # runs from before --split-seed held out names chosen by --seed
        options.setdefault("split_seed", options["seed"])
        return cls(**options)

    def learning_rate(self, epoch: int) -> float:
        """The rate for a 1-based epoch: `lr`, multiplied by `lr_decay` at each later epoch."""
        return self.lr * self.lr_decay ** (epoch - 1)


# Only these may differ when resuming: the rest decides what the run computes.
RESUMABLE_OVERRIDES = ("epochs", "device", "precision", "out", "samples")


def companion_paths(out: str | Path) -> tuple[Path, Path]:
    """Where the resume state and the history of a run writing `out` go."""
    out = Path(out)
    return out.with_suffix(".resume"), out.with_suffix(".history.json")


def file_sha256(path: str | Path) -> str:
    """The data file's fingerprint, recorded in checkpoints and checked on resume."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise BandnameError(f"no such file: {path}") from None
    except OSError as error:
        raise BandnameError(f"cannot read {path}: {error.strerror}") from None
    return digest.hexdigest()
