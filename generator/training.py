"""Setting up a training run: data, vocabulary, model, processes; or picking up a saved one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import torch

from generator.batches import tag_matrix
from generator.checkpoint import Checkpoint, load_checkpoint
from generator.devices import check_precision, resolve_device
from generator.distributed import join_world, leave_world
from generator.errors import BandnameError, CheckpointError
from generator.freshness import KnownNames
from generator.genres import TAGS, tags_by_name
from generator.model import CharModel, ModelConfig
from generator.names import prepare_names, read_columns, split_names
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
    if not 0.0 <= options.ngram_targets < 1.0:
        raise BandnameError(
            f"--ngram-targets is a weight at least 0 and below 1, not {options.ngram_targets:g}"
        )
    torch.manual_seed(options.seed)
    data_sha256 = file_sha256(options.data)
    names, tags = _read_data(options)
    split = split_names(names, options.validation_fraction, options.split_seed)
    if not split.train or not split.validation:
        raise BandnameError(
            f"{len(names)} names are too few to hold out a validation set; give more names"
        )
    if saved is not None and saved.training["data_sha256"] != data_sha256:
        raise BandnameError(f"{options.data} changed since the interrupted run; cannot resume")
    # a resumed run rebuilds exactly the saved network, whatever this code's defaults are now
    vocabulary = (
        saved.vocabulary if saved else Vocabulary.build(split.train, options.min_char_count)
    )
    config = saved.config if saved else _new_config(options, len(vocabulary), tags is not None)
    genre_tags = config.genre_tags
    if not genre_tags:
        tags = None
    log.info(
        "%d training and %d validation names, %d symbols in the vocabulary, %s, device %s, %s",
        len(split.train),
        len(split.validation),
        len(vocabulary),
        f"{len(genre_tags)} style tags" if genre_tags else "no style tags",
        device,
        options.precision,
    )
    model = CharModel(config).to(device)

    def tags_for(part: list[str]):
        return None if tags is None else tag_matrix([tags[name] for name in part], genre_tags)

    trainer = Trainer(
        options,
        device,
        world,
        model,
        vocabulary,
        KnownNames.from_names(names),
        data_sha256,
        (split.train, tags_for(split.train)),
        (split.validation, tags_for(split.validation)),
    )
    if saved is not None:
        trainer.restore(saved)
    return trainer.fit(after_step)


def _new_config(options: TrainingOptions, vocabulary_size: int, tagged: bool) -> ModelConfig:
    return ModelConfig(
        vocabulary_size,
        options.cell,
        options.embedding_size,
        options.hidden_size,
        options.dropout,
        TAGS if tagged else (),
        options.weight_drop,
        options.layer_norm,
    )


def _read_data(options: TrainingOptions) -> tuple[list[str], dict[str, frozenset] | None]:
    """The cleaned names and, when the CSV has the genre column, each name's style tags."""
    optional = (options.genre_column,) if options.genre_column else ()
    columns = read_columns(options.data, [options.column], optional)
    names = prepare_names(columns[options.column], options.keep_duplicates)
    if options.genre_column not in columns:
        if options.genre_column:
            log.info("no %r column: training without style tags", options.genre_column)
        return names, None
    return names, tags_by_name(columns[options.column], columns[options.genre_column])


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
    options = replace(TrainingOptions.saved_in(checkpoint.training), **changes)
    if progress["epoch"] > options.epochs:
        log.info(
            "that run already finished %d epochs; pass --epochs to train further",
            progress["epoch"] - 1,
        )
    return options, checkpoint
