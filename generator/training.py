"""The training loop: batched epochs, validation, best-model checkpoints, Ctrl-C and --resume.

A run writes three files next to each other, for `--out checkpoints/bandname.safetensors`:
  bandname.safetensors    the best model so far by validation bits per character
  bandname.resume         the latest full training state, for --resume (not for shipping)
  bandname.history.json   per-step training loss and per-epoch figures, ready to plot
"""

from __future__ import annotations

import hashlib
import logging
import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm import tqdm

from generator.batches import Batch, collate, encode_names, epoch_plan, fixed_batches
from generator.checkpoint import Checkpoint, TrainingState, load_checkpoint, save_checkpoint
from generator.devices import autocast, check_precision, resolve_device
from generator.errors import BandnameError, CheckpointError
from generator.freshness import KnownNames
from generator.history import History
from generator.model import CharModel, ModelConfig
from generator.names import load_names, split_names
from generator.sampling import sample_continuations
from generator.scoring import batch_nats
from generator.vocab import Vocabulary

log = logging.getLogger(__name__)

SAMPLE_TEMPERATURE = 0.8


@dataclass(frozen=True)
class TrainingOptions:
    data: str = "data/bands.csv"
    column: str = "name"
    cell: str = "milstm"
    hidden_size: int = 1024
    embedding_size: int = 64
    dropout: float = 0.0
    epochs: int = 3
    batch_size: int = 64
    lr: float = 5e-4
    lr_decay: float = 0.25
    clip: float = 5.0
    validation_fraction: float = 0.05
    keep_duplicates: bool = False
    min_char_count: int = 3
    seed: int = 0
    device: str = "auto"
    precision: str = "fp32"
    out: str = "checkpoints/bandname.safetensors"
    samples: int = 5

    def learning_rate(self, epoch: int) -> float:
        """The rate for a 1-based epoch: `lr`, multiplied by `lr_decay` at each later epoch."""
        return self.lr * self.lr_decay ** (epoch - 1)


# Only these may differ when resuming: the rest decides what the run computes.
RESUMABLE_OVERRIDES = ("epochs", "device", "precision", "out", "samples")


def companion_paths(out: str | Path) -> tuple[Path, Path]:
    """Where the resume state and the history of a run writing `out` go."""
    out = Path(out)
    return out.with_suffix(".resume"), out.with_suffix(".history.json")


@dataclass
class RunResult:
    best_path: Path
    resume_path: Path
    interrupted: bool
    best_validation_bits_per_char: float | None


def train(
    options: TrainingOptions | None,
    resume: str | Path | None = None,
    after_step: Callable[[int], None] | None = None,
    resume_changes: dict | None = None,
) -> RunResult:
    """Train as `options` say, or continue the run saved at `resume`.

    A resumed run takes its options from the saved run; `resume_changes` may alter only
    the RESUMABLE_OVERRIDES (to add epochs, say).
    """
    state = None
    if resume is not None:
        options, state = _resume_options(Path(resume), resume_changes or {})
    elif options is None:
        raise ValueError("train() needs options or a run to resume")
    device = resolve_device(options.device)
    check_precision(options.precision, device)
    torch.manual_seed(options.seed)

    data_sha256 = _file_sha256(options.data)
    names = load_names(options.data, options.column, options.keep_duplicates)
    split = split_names(names, options.validation_fraction, options.seed)
    if not split.train or not split.validation:
        raise BandnameError(
            f"{len(names)} names are too few to hold out a validation set; give more names"
        )
    if state is not None and state.checkpoint.training["data_sha256"] != data_sha256:
        raise BandnameError(f"{options.data} changed since the interrupted run; cannot resume")
    vocabulary = (
        state.checkpoint.vocabulary
        if state
        else Vocabulary.build(split.train, options.min_char_count)
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
    optimizer = torch.optim.Adam(model.parameters(), lr=options.lr)
    run = _Run(
        options,
        device,
        model,
        optimizer,
        vocabulary,
        KnownNames.from_names(names),
        data_sha256,
        split.train,
        split.validation,
    )
    if state is not None:
        run.restore(state)
    return run.fit(after_step)


@dataclass
class _Resumed:
    checkpoint: Checkpoint


def _resume_options(path: Path, changes: dict) -> tuple[TrainingOptions, _Resumed]:
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
    return options, _Resumed(checkpoint)


class _Run:
    """One training run's moving parts; `fit` drives them."""

    def __init__(
        self,
        options,
        device,
        model,
        optimizer,
        vocabulary,
        known_names,
        data_sha256,
        train_names,
        validation_names,
    ) -> None:
        self.options = options
        self.device = device
        self.model = model
        self.optimizer = optimizer
        self.vocabulary = vocabulary
        self.known_names = known_names
        self.data_sha256 = data_sha256
        self.train_sequences = encode_names(train_names, vocabulary)
        self.validation_batches = fixed_batches(encode_names(validation_names, vocabulary), 256)
        self.best_path = Path(options.out)
        self.resume_path, history_path = companion_paths(options.out)
        self.history = History(history_path)
        self.epoch, self.batch, self.step = 1, 0, 0
        self.best_bits: float | None = None
        self.epoch_nats, self.epoch_symbols = 0.0, 0
        self.stop_requested = False

    def restore(self, resumed: _Resumed) -> None:
        checkpoint = resumed.checkpoint
        self.model.load_state_dict(checkpoint.weights)
        self.optimizer.load_state_dict(checkpoint.state.optimizer)
        progress = checkpoint.state.progress
        self.epoch, self.batch, self.step = progress["epoch"], progress["batch"], progress["step"]
        self.best_bits = progress["best_bits_per_char"]
        self.epoch_nats, self.epoch_symbols = progress["epoch_nats"], progress["epoch_symbols"]
        self.history.load(progress["history"])
        torch.set_rng_state(checkpoint.state.rng_state)

    def fit(self, after_step: Callable[[int], None] | None) -> RunResult:
        previous_handler = signal.signal(signal.SIGINT, self._on_interrupt)
        try:
            while self.epoch <= self.options.epochs and not self.stop_requested:
                self._train_epoch(after_step)
                if not self.stop_requested:
                    self._finish_epoch()
        finally:
            signal.signal(signal.SIGINT, previous_handler)
        if self.stop_requested:
            self._save_state()
            log.info(
                "interrupted: state saved; continue with  python train.py --resume %s",
                self.resume_path,
            )
        return RunResult(self.best_path, self.resume_path, self.stop_requested, self.best_bits)

    def _on_interrupt(self, signum, frame) -> None:
        log.info("Ctrl-C: stopping after this step (Ctrl-C again to quit without saving)")
        self.stop_requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def _train_epoch(self, after_step: Callable[[int], None] | None) -> None:
        options = self.options
        for group in self.optimizer.param_groups:
            group["lr"] = options.learning_rate(self.epoch)
        lengths = [len(sequence) for sequence in self.train_sequences]
        plan = epoch_plan(lengths, options.batch_size, options.seed, self.epoch)
        self.model.train()
        progress = tqdm(
            total=len(plan),
            initial=self.batch,
            unit="batch",
            leave=False,
            desc=f"epoch {self.epoch}/{options.epochs}",
            dynamic_ncols=True,
            disable=None,
        )
        started, symbols_seen = time.perf_counter(), 0
        with progress:
            while self.batch < len(plan) and not self.stop_requested:
                batch = collate([self.train_sequences[i] for i in plan[self.batch]])
                bits = self._train_step(batch)
                self.batch += 1
                self.step += 1
                symbols_seen += batch.symbols
                self.history.add_step(self.step, self.epoch, bits)
                rate = symbols_seen / (time.perf_counter() - started)
                progress.set_postfix(bits_per_char=f"{bits:.3f}", chars_per_s=f"{rate:,.0f}")
                progress.update()
                if after_step is not None:
                    after_step(self.step)

    def _train_step(self, batch: Batch) -> float:
        inputs, targets = batch.inputs.to(self.device), batch.targets.to(self.device)
        with autocast(self.options.precision, self.device):
            nats = batch_nats(self.model, Batch(inputs, targets, batch.symbols)).sum()
        loss = nats / batch.symbols
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.options.clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.options.clip)
        self.optimizer.step()
        self.epoch_nats += nats.item()
        self.epoch_symbols += batch.symbols
        return loss.item() / math.log(2)

    def _finish_epoch(self) -> None:
        train_bits = self.epoch_nats / self.epoch_symbols / math.log(2)
        validation_bits = self.validation_bits_per_char()
        improved = self.best_bits is None or validation_bits < self.best_bits
        if improved:
            self.best_bits = validation_bits
        self.history.add_epoch(
            self.epoch, train_bits, validation_bits, self.options.learning_rate(self.epoch)
        )
        log.info(
            "epoch %d/%d | train %.4f bits/char | validation %.4f bits/char%s",
            self.epoch,
            self.options.epochs,
            train_bits,
            validation_bits,
            " | best so far, saved" if improved else "",
        )
        if self.options.samples:
            log.info("samples: %s", " · ".join(self._samples()))
        self.epoch, self.batch = self.epoch + 1, 0
        self.epoch_nats, self.epoch_symbols = 0.0, 0
        if improved:
            save_checkpoint(self._checkpoint(with_state=False), self.best_path)
        self._save_state()

    @torch.no_grad()
    def validation_bits_per_char(self) -> float:
        self.model.eval()
        total_nats, total_symbols = 0.0, 0
        for batch in self.validation_batches:
            batch_on_device = Batch(
                batch.inputs.to(self.device), batch.targets.to(self.device), batch.symbols
            )
            with autocast(self.options.precision, self.device):
                total_nats += float(batch_nats(self.model, batch_on_device).sum())
            total_symbols += batch.symbols
        self.model.train()
        return total_nats / total_symbols / math.log(2)

    def _samples(self) -> list[str]:
        self.model.eval()
        generator = torch.Generator(self.device).manual_seed(self.options.seed + self.epoch)
        temperatures = torch.full((self.options.samples,), SAMPLE_TEMPERATURE)
        names = sample_continuations(
            self.model, self.vocabulary, [""] * self.options.samples, temperatures, generator
        )
        self.model.train()
        return [name if name is not None else "(no end)" for name in names]

    def _checkpoint(self, with_state: bool) -> Checkpoint:
        training = {
            "options": asdict(self.options),
            "data_sha256": self.data_sha256,
            "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "epochs_completed": self.epoch - 1,
            "validation_bits_per_char": self.best_bits,
            "torch_version": torch.__version__,
        }
        state = None
        if with_state:
            progress = {
                "epoch": self.epoch,
                "batch": self.batch,
                "step": self.step,
                "best_bits_per_char": self.best_bits,
                "epoch_nats": self.epoch_nats,
                "epoch_symbols": self.epoch_symbols,
                "history": self.history.to_dict(),
            }
            state = TrainingState(self.optimizer.state_dict(), progress, torch.get_rng_state())
        return Checkpoint.from_model(self.model, self.vocabulary, self.known_names, training, state)

    def _save_state(self) -> None:
        save_checkpoint(self._checkpoint(with_state=True), self.resume_path)
        self.history.save()


def _file_sha256(path: str | Path) -> str:
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
