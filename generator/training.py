"""Setting up a training run: data, vocabulary, model, processes; or picking up a saved one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from generator.checkpoint import Checkpoint, load_checkpoint
from generator.devices import check_precision, resolve_device
from generator.distributed import join_world, leave_world
from generator.errors import BandnameError, CheckpointError
from generator.freshness import KnownNames
from generator.model import CharModel, ModelConfig
from generator.names import load_names, split_names
from generator.options import RESUMABLE_OVERRIDES, TrainingOptions, file_sha256
from generator.trainer import RunResult, Trainer
from generator.vocab import Vocabulary

log = logging.getLogger(__name__)


def train(
    options: TrainingOptions | None,
    resume: str | Path | None = None,
    after_step: Callable[[int], None] | None = None,
    resume_changes: dict | None = None,
) -> RunResult:
    """Train as `options` say, or continue the run saved at `resume`.

    A resumed run takes its options from the saved run; `resume_changes` may alter only
    the RESUMABLE_OVERRIDES (to add epochs, say). Started by torchrun, the run spreads over
    its processes.
    """
    saved = None
    if resume is not None:
        options, saved = _resume_options(Path(resume), resume_changes or {})
    elif options is None:
        raise ValueError("train() needs options or a run to resume")
    device = resolve_device(options.device)
    check_precision(options.precision, device)
    world, device = join_world(device)
    try:
        return _train(options, saved, device, world, after_step)
    finally:
        leave_world(world)


def _train(options, saved, device, world, after_step) -> RunResult:
    torch.manual_seed(options.seed)
    data_sha256 = file_sha256(options.data)
    names = load_names(options.data, options.column, options.keep_duplicates)
    split = split_names(names, options.validation_fraction, options.seed)
    if not split.train or not split.validation:
        raise BandnameError(
            f"{len(names)} names are too few to hold out a validation set; give more names"
        )
    if saved is not None and saved.training["data_sha256"] != data_sha256:
        raise BandnameError(f"{options.data} changed since the interrupted run; cannot resume")
    vocabulary = (
        saved.vocabulary if saved else Vocabulary.build(split.train, options.min_char_count)
    )
    log.info(
        "%d training and %d validation names, %d symbols in the vocabulary, device %s, %s",
        len(split.train),
        len(split.validation),
        len(vocabulary),
        device,
        options.precision,
    )

    config = ModelConfig(
        len(vocabulary), options.cell, options.embedding_size, options.hidden_size, options.dropout
    )
    model = CharModel(config).to(device)
    trainer = Trainer(
        options,
        device,
        world,
        model,
        vocabulary,
        KnownNames.from_names(names),
        data_sha256,
        split.train,
        split.validation,
    )
    if saved is not None:
        trainer.restore(saved)
    return trainer.fit(after_step)


def _resume_options(path: Path, changes: dict) -> tuple[TrainingOptions, Checkpoint]:
    fixed = sorted(set(changes) - set(RESUMABLE_OVERRIDES))
    if fixed:
        raise BandnameError(
            f"a resumed run keeps its saved settings; only {', '.join(RESUMABLE_OVERRIDES)} "
            f"may change, not {', '.join(fixed)}"
        )
    if path.suffix != ".resume" and path.with_suffix(".resume").is_file():
        path = path.with_suffix(".resume")
    checkpoint = load_checkpoint(path)
    if checkpoint.state is None:
        raise CheckpointError(f"{path} holds a model but no training state to resume from")
    progress = checkpoint.state.progress
    log.info("resuming %s at epoch %d, batch %d", path, progress["epoch"], progress["batch"])
    options = replace(TrainingOptions(**checkpoint.training["options"]), **changes)
    if progress["epoch"] > options.epochs:
        log.info(
            "that run already finished %d epochs; pass --epochs to train further",
            progress["epoch"] - 1,
        )
    return options, checkpoint
