"""Checkpoint files: one safetensors file holding weights, config, vocabulary and metadata.

safetensors stores raw tensors behind a JSON header, so reading a file never runs code that
came with it, unlike a pickle. Training state for --resume (optimizer moments, schedule,
position, random state) goes into the same format, in a file of its own beside the model.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from generator.errors import CheckpointError, first_line
from generator.freshness import KnownNames
from generator.model import CharModel, ModelConfig
from generator.vocab import Vocabulary

FORMAT_NAME = "bandname"
FORMAT_VERSION = 1

MODEL_PREFIX = "model."
OPTIMIZER_PREFIX = "optimizer."
AVERAGE_PREFIX = "average."
KNOWN_NAMES_KEY = "known_names"
RNG_KEY = "rng_state"


@dataclass
class TrainingState:
    """What --resume needs beyond the model: optimizer, schedule and position in the data."""

    optimizer: dict
    progress: dict
    rng_state: torch.Tensor
    average: dict[str, torch.Tensor] | None = None  # moving average of the weights, if kept


@dataclass
class Checkpoint:
    config: ModelConfig
    vocabulary: Vocabulary
    weights: dict[str, torch.Tensor]
    known_names: KnownNames
    training: dict = field(default_factory=dict)
    state: TrainingState | None = None

    @classmethod
    def from_model(
        cls,
        model: CharModel,
        vocabulary: Vocabulary,
        known_names: KnownNames,
        training: dict,
        state: TrainingState | None = None,
    ) -> Checkpoint:
        weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
        return cls(model.config, vocabulary, weights, known_names, training, state)

    def build_model(self, device: str | torch.device = "cpu") -> CharModel:
        model = CharModel(self.config)
        try:
            model.load_state_dict({name: t.float() for name, t in self.weights.items()})
        except RuntimeError as error:
            raise CheckpointError(
                f"checkpoint weights do not fit its model config: {error}"
            ) from None
        return model.to(device)


def save_checkpoint(
    checkpoint: Checkpoint, path: str | Path, weights_dtype: torch.dtype | None = None
) -> None:
    """Write atomically: a crash mid-write leaves the previous file whole.

    `weights_dtype` stores the weights in another precision (float16 for a model to ship:
    half the size, and no measurable change in bits per character); they load as float32.
    """
    tensors = {
        MODEL_PREFIX + name: t.to(weights_dtype or t.dtype).contiguous()
        for name, t in checkpoint.weights.items()
    }
    tensors[KNOWN_NAMES_KEY] = checkpoint.known_names.to_tensor()
    metadata = {
        "format": FORMAT_NAME,
        "format_version": str(FORMAT_VERSION),
        "config": json.dumps(checkpoint.config.to_dict()),
        "vocabulary": json.dumps(checkpoint.vocabulary.characters, ensure_ascii=False),
        "training": json.dumps(checkpoint.training),
    }
    if checkpoint.state is not None:
        optimizer_tensors, optimizer_rest = _flatten_optimizer(checkpoint.state.optimizer)
        tensors.update(optimizer_tensors)
        tensors[RNG_KEY] = checkpoint.state.rng_state
        for name, tensor in (checkpoint.state.average or {}).items():
            tensors[AVERAGE_PREFIX + name] = tensor.detach().cpu().contiguous()
        metadata["optimizer"] = json.dumps(optimizer_rest)
        metadata["progress"] = json.dumps(checkpoint.state.progress)
    _atomic_write(Path(path), lambda temporary: save_file(tensors, temporary, metadata))


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint, raising CheckpointError with a one-line reason for any bad file."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        tensors = load_file(path, device="cpu")
        metadata = _read_metadata(path)
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"{path} is not a readable bandname checkpoint (damaged, truncated, or another "
            f"format such as a pickle, which we never load): {first_line(error)}"
        ) from None
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"{path} is a safetensors file but not a bandname checkpoint")
    if metadata.get("format_version") != str(FORMAT_VERSION):
        raise CheckpointError(
            f"{path} has checkpoint format version {metadata.get('format_version')}, "
            f"this code reads version {FORMAT_VERSION}"
        )
    try:
        return _assemble(tensors, metadata)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} has incomplete or invalid metadata: {error}") from None


def _assemble(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> Checkpoint:
    weights = {
        name[len(MODEL_PREFIX) :]: t for name, t in tensors.items() if name.startswith(MODEL_PREFIX)
    }
    state = None
    if "progress" in metadata:
        optimizer_tensors = {
            name: t for name, t in tensors.items() if name.startswith(OPTIMIZER_PREFIX)
        }
        optimizer = _unflatten_optimizer(optimizer_tensors, json.loads(metadata["optimizer"]))
        average = {
            name[len(AVERAGE_PREFIX) :]: t
            for name, t in tensors.items()
            if name.startswith(AVERAGE_PREFIX)
        }
        state = TrainingState(
            optimizer, json.loads(metadata["progress"]), tensors[RNG_KEY], average or None
        )
    return Checkpoint(
        config=ModelConfig(**json.loads(metadata["config"])),
        vocabulary=Vocabulary(tuple(json.loads(metadata["vocabulary"]))),
        weights=weights,
        known_names=KnownNames.from_tensor(tensors[KNOWN_NAMES_KEY]),
        training=json.loads(metadata["training"]),
        state=state,
    )


def _read_metadata(path: Path) -> dict[str, str]:
    with safe_open(path, framework="pt") as handle:
        return handle.metadata() or {}


def _flatten_optimizer(state_dict: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """Split an optimizer state dict into named tensors and a JSON-able remainder."""
    tensors, scalars = {}, {}
    for index, entry in state_dict["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{OPTIMIZER_PREFIX}{index}.{key}"] = value.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], rest: dict) -> dict:
    state: dict[int, dict] = {}
    for name, tensor in tensors.items():
        index, key = name[len(OPTIMIZER_PREFIX) :].split(".", 1)
        state.setdefault(int(index), {})[key] = tensor
    for index, entry in rest["scalars"].items():
        state.setdefault(int(index), {}).update(entry)
    return {"state": state, "param_groups": rest["param_groups"]}


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(temporary)
        os.chmod(temporary, 0o666 & ~_current_umask())  # as a plainly created file would be
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
