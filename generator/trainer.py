"""The training loop: batched epochs, validation, best-model checkpoints, Ctrl-C and --resume."""

from __future__ import annotations

import logging
import math
import signal
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from generator.averaging import WeightAverage
from generator.batches import collate, encode_names, epoch_plan, fixed_batches
from generator.checkpoint import Checkpoint, TrainingState, save_checkpoint
from generator.devices import autocast, keep_freed_memory
from generator.distributed import World
from generator.errors import BandnameError
from generator.freshness import KnownNames
from generator.history import History
from generator.model import CharModel
from generator.options import TrainingOptions, companion_paths
from generator.sampling import sample_continuations
from generator.scoring import batch_nats, training_nats
from generator.soft_targets import heldout_ngram_targets, stack_targets
from generator.stepper import Stepper
from generator.vocab import Vocabulary

log = logging.getLogger(__name__)

SAMPLE_TEMPERATURE = 0.8
VALIDATION_BATCH_SIZE = 256


def adam(parameters, lr: float) -> torch.optim.Adam:
    """Adam as training uses it: PyTorch's fused implementation, one pass over each
    parameter instead of a dozen. Trained side by side on two CPU cores at hidden 1024,
    batch 64, it took the step from 136.4 to 132.5 ms."""
    return torch.optim.Adam(parameters, lr=lr, fused=True)


def clip_gradients(parameters, max_norm: float) -> None:
    """Scale the gradients down to a total norm of max_norm when they exceed it.

    What clip_grad_norm_ does, less its multiplication by 1 when they do not: most steps
    need no clipping, and that pass over every gradient cost 0.5 ms (float32) to 0.75 ms
    (bfloat16) of a 45 to 95 ms step at hidden 1024 on two cores.
    """
    gradients = [parameter.grad for parameter in parameters if parameter.grad is not None]
    norm = torch.nn.utils.get_total_norm(gradients, foreach=True)
    if norm > max_norm:
        torch.nn.utils.clip_grads_with_norm_(parameters, max_norm, norm, foreach=True)


@dataclass
class RunResult:
    best_path: Path
    resume_path: Path
    interrupted: bool
    best_validation_bits_per_char: float | None


class Trainer:
    """One run's moving parts; `fit` drives them, epoch by epoch, step by step."""

    def __init__(
        self,
        options: TrainingOptions,
        device: torch.device,
        world: World,
        model: CharModel,
        vocabulary: Vocabulary,
        known_names: KnownNames,
        data_sha256: str,
        train: tuple[list[str], torch.Tensor | None],
        validation: tuple[list[str], torch.Tensor | None],
    ) -> None:
        """`train` and `validation` are names with their multi-hot style tags (or None)."""
        self.options = options
        self.device = device
        if device.type == "cpu":
            keep_freed_memory()
        self.world = world
        self.model = model
        # forward passes go through DDP when there are several processes, so that the
        # gradients are averaged between them during backward
        self.network = DistributedDataParallel(model) if world.is_distributed else model
        self.optimizer = adam(model.parameters(), options.lr)
        self.average = (
            WeightAverage(model, options.average_decay) if options.average_decay > 0 else None
        )
        self.vocabulary = vocabulary
        self.known_names = known_names
        self.data_sha256 = data_sha256
        self.train_sequences = encode_names(train[0], vocabulary)
        self.train_tags = train[1]
        self.train_soft_targets = (
            heldout_ngram_targets(train[0], vocabulary) if options.ngram_targets > 0 else None
        )
        self.validation_batches = fixed_batches(
            encode_names(validation[0], vocabulary), VALIDATION_BATCH_SIZE, validation[1]
        )
        self.best_path = Path(options.out)
        self.resume_path, history_path = companion_paths(options.out)
        self.history = History(history_path)
        self.epoch, self.batch, self.step = 1, 0, 0
        self.best_bits: float | None = None
        self.epoch_nats, self.epoch_symbols = 0.0, 0
        self.stop_requested = False

    def restore(self, checkpoint: Checkpoint) -> None:
        self.model.load_state_dict(checkpoint.weights)
        self.optimizer.load_state_dict(checkpoint.state.optimizer)
        progress = checkpoint.state.progress
        self.epoch, self.batch, self.step = progress["epoch"], progress["batch"], progress["step"]
        self.best_bits = progress["best_bits_per_char"]
        self.epoch_nats, self.epoch_symbols = progress["epoch_nats"], progress["epoch_symbols"]
        self.history.load(progress["history"])
        torch.set_rng_state(checkpoint.state.rng_state)
        if self.average is not None:
            self.average.load_state_dict(checkpoint.state.average, progress["average_updates"])

    def fit(self, after_step: Callable[[int], None] | None = None) -> RunResult:
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
            if self.world.is_main:
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
        for group in self.optimizer.param_groups:
            group["lr"] = self.options.learning_rate(self.epoch)
        lengths = [len(sequence) for sequence in self.train_sequences]
        plan = epoch_plan(lengths, self.options.batch_size, self.options.seed, self.epoch)
        self.model.train()
        progress = tqdm(
            total=len(plan),
            initial=self.batch,
            unit="batch",
            leave=False,
            desc=f"epoch {self.epoch}/{self.options.epochs}",
            dynamic_ncols=True,
            disable=None if self.world.is_main else True,  # None: only on a terminal
        )
        started, symbols_seen = time.perf_counter(), 0
        with progress:
            while self.batch < len(plan):
                if self.world.any(self.stop_requested, self.device):
                    self.stop_requested = True
                    return
                bits, symbols = self._train_step(plan[self.batch])
                self.batch += 1
                self.step += 1
                symbols_seen += symbols
                self.history.add_step(self.step, self.epoch, bits)
                rate = symbols_seen / (time.perf_counter() - started)
                progress.set_postfix(bits_per_char=f"{bits:.3f}", chars_per_s=f"{rate:,.0f}")
                progress.update()
                if after_step is not None:
                    after_step(self.step)

    def _train_step(self, indices: list[int]) -> tuple[float, int]:
        """One optimizer step on the batch of these names; returns its bits/char and size."""
        symbols = sum(len(self.train_sequences[i]) + 1 for i in indices)
        mine = self.world.shard(indices)
        # a process left without names still takes part in averaging the gradients,
        # with a loss of weight zero
        weight = self.world.size / symbols if mine else 0.0
        rows = mine or indices[:1]
        tags = self._training_tags(indices, rows)
        batch = collate([self.train_sequences[i] for i in rows], tags)
        soft_targets = None
        if self.train_soft_targets is not None:
            steps = batch.targets.shape[0]
            soft_targets = stack_targets([self.train_soft_targets[i] for i in rows], steps)
            soft_targets = soft_targets.to(self.device)
        with autocast(self.options.precision, self.device):
            nats, objective = training_nats(
                self.network, batch.to(self.device), soft_targets, self.options.ngram_targets
            )
            nats, objective = nats.sum(), objective.sum()
        if self.world.any(not math.isfinite(objective.item()), self.device):
            raise BandnameError(self._divergence_message())
        self.optimizer.zero_grad(set_to_none=True)
        (objective * weight).backward()
        if self.options.clip > 0:
            clip_gradients(list(self.model.parameters()), self.options.clip)
        self.optimizer.step()
        if self.average is not None:
            self.average.update()

        total_nats = nats.detach() * (1.0 if mine else 0.0)
        if self.world.is_distributed:
            dist.all_reduce(total_nats)
        self.epoch_nats += total_nats.item()
        self.epoch_symbols += symbols
        return total_nats.item() / symbols / math.log(2), symbols

    def _divergence_message(self) -> str:
        """What to say when the loss stops being a number: a step on it would turn every
        weight into NaN, so the run stops with the files it wrote so far left as they are."""
        step, epoch = self.step + 1, self.epoch
        where = f"training diverged at step {step} (epoch {epoch}): the loss is not finite"
        if self.best_bits is None:
            kept = "no epoch had finished, so no model was saved"
        else:
            kept = (
                f"the best model so far ({self.best_bits:.4f} bits/char) is in {self.best_path}, "
                f"the last saved training state in {self.resume_path}"
            )
        return f"{where}; {kept}. A lower --lr or --clip may help."

    def _training_tags(self, batch: list[int], rows: list[int]) -> torch.Tensor | None:
        """The tags of `rows` (names of `batch`), each hidden with probability tag_dropout,
        so that the same model also learns to write names without being told a style.

        Which names lose their tags is drawn for the whole batch, so that every process of
        a distributed run draws the same numbers as a single process would.
        """
        if self.train_tags is None:
            return None
        shown = torch.rand(len(batch), 1) >= self.options.tag_dropout
        position = {name: place for place, name in enumerate(batch)}
        return self.train_tags[rows] * shown[[position[row] for row in rows]]

    def _finish_epoch(self) -> None:
        train_bits = self.epoch_nats / self.epoch_symbols / math.log(2)
        extra, raw_note = {}, ""
        if self.average is not None:
            # the raw weights' figure beside the average's shows what averaging buys
            extra["raw_validation_bits_per_char"] = self.validation_bits_per_char()
            raw_note = f" (raw weights {extra['raw_validation_bits_per_char']:.4f})"
        with self._evaluated_weights():
            validation_bits = self.validation_bits_per_char()
            improved = self.best_bits is None or validation_bits < self.best_bits
            if improved:
                self.best_bits = validation_bits
            self.history.add_epoch(
                self.epoch,
                train_bits,
                validation_bits,
                self.options.learning_rate(self.epoch),
                **extra,
            )
            if self.world.is_main:
                log.info(
                    "epoch %d/%d | train %.4f bits/char | validation %.4f bits/char%s%s",
                    self.epoch,
                    self.options.epochs,
                    train_bits,
                    validation_bits,
                    raw_note,
                    " | best so far, saved" if improved else "",
                )
                if self.options.samples:
                    log.info("samples: %s", " · ".join(self._samples()))
            self.epoch, self.batch = self.epoch + 1, 0
            self.epoch_nats, self.epoch_symbols = 0.0, 0
            if improved and self.world.is_main:
                # float16 storage changes validation bits per character by under 1e-6
                # (measured on the shipped model) and halves the file; the resume state
                # stays float32
                best = self._checkpoint(with_state=False)
                save_checkpoint(best, self.best_path, torch.float16)
        self._save_state()

    def _evaluated_weights(self):
        """The weights that are validated, sampled from and saved as the best model."""
        return self.average.applied() if self.average is not None else nullcontext()

    @torch.no_grad()
    def validation_bits_per_char(self) -> float:
        """Every process scores the whole validation set, so all agree on the best epoch."""
        self.model.eval()
        total_nats, total_symbols = 0.0, 0
        for batch in self.validation_batches:
            with autocast(self.options.precision, self.device):
                total_nats += batch_nats(self.model, batch.to(self.device)).sum().item()
            total_symbols += batch.symbols
        self.model.train()
        return total_nats / total_symbols / math.log(2)

    def _samples(self) -> list[str]:
        self.model.eval()
        generator = torch.Generator(self.device).manual_seed(self.options.seed + self.epoch)
        temperatures = torch.full((self.options.samples,), SAMPLE_TEMPERATURE)
        names = sample_continuations(
            Stepper(self.model),
            self.vocabulary,
            [""] * self.options.samples,
            temperatures,
            generator,
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
            "processes": self.world.size,
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
            average = None
            if self.average is not None:
                progress["average_updates"] = self.average.updates
                average = self.average.state_dict()
            state = TrainingState(
                self.optimizer.state_dict(), progress, torch.get_rng_state(), average
            )
        return Checkpoint.from_model(self.model, self.vocabulary, self.known_names, training, state)

    def _save_state(self) -> None:
        """Only the main process writes; the others hold the same state."""
        if self.world.is_main:
            save_checkpoint(self._checkpoint(with_state=True), self.resume_path)
            self.history.save()
