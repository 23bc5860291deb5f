"""The record of a training run: loss per step and figures per epoch, as a JSON file to plot."""

from __future__ import annotations

import json
import os
from pathlib import Path


class History:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.steps: list[dict] = []
        self.epochs: list[dict] = []

    def add_step(self, step: int, epoch: int, bits_per_char: float) -> None:
        self.steps.append({"step": step, "epoch": epoch, "bits_per_char": bits_per_char})

    def add_epoch(
        self,
        epoch: int,
        train_bits_per_char: float,
        validation_bits_per_char: float,
        learning_rate: float,
        **extra: float,
    ) -> None:
        """`extra` holds further figures of the epoch, such as the raw weights' validation."""
        self.epochs.append(
            {
                "epoch": epoch,
                "step": self.steps[-1]["step"] if self.steps else 0,
                "train_bits_per_char": train_bits_per_char,
                "validation_bits_per_char": validation_bits_per_char,
                "learning_rate": learning_rate,
                **extra,
            }
        )

    def to_dict(self) -> dict:
        return {"steps": self.steps, "epochs": self.epochs}

    def load(self, data: dict) -> None:
        self.steps = list(data["steps"])
        self.epochs = list(data["epochs"])

    def save(self) -> None:
        temporary = self.path.with_name(f".{self.path.name}.tmp")
        temporary.write_text(json.dumps(self.to_dict()))
        os.replace(temporary, self.path)

    @classmethod
    def read(cls, path: str | Path) -> History:
        history = cls(path)
        history.load(json.loads(Path(path).read_text()))
        return history
