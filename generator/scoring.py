"""Log-probabilities of whole names under a model: the basis of every bits-per-character figure."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from generator.batches import Batch, collate
from generator.model import CharModel
from generator.stepper import Stepper
from generator.vocab import PAD, Vocabulary

SCORING_BATCH_SIZE = 256


def batch_nats(model: CharModel, batch: Batch) -> torch.Tensor:
    """Negative log-likelihood in nats of each name of the batch, end symbol included: (N,)."""
    logits, _ = model(batch.inputs, tags=batch.tags, lengths=batch.lengths)
    losses = F.cross_entropy(
        logits.flatten(0, 1).float(), batch.targets.flatten(), ignore_index=PAD, reduction="none"
    )
    return losses.view_as(batch.targets).sum(dim=0)


def training_nats(
    model: CharModel, batch: Batch, soft_targets: torch.Tensor | None, soft_weight: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each name's nats, as batch_nats gives them, and what training minimizes: the
    cross-entropy against (1 - soft_weight) onehot(target) + soft_weight soft_targets, the
    soft targets (T, N, V) being distributions over the next symbol. Without soft
    targets the two are the same tensor."""
    if soft_targets is None or soft_weight == 0:
        nats = batch_nats(model, batch)
        return nats, nats
    logits, _ = model(batch.inputs, tags=batch.tags, lengths=batch.lengths)
    log_p = torch.log_softmax(logits.float(), dim=-1)
    going = batch.targets != PAD
    hard = -log_p.gather(2, batch.targets.unsqueeze(2)).squeeze(2) * going
    soft = -(soft_targets * log_p).sum(dim=2) * going
    objective = (1 - soft_weight) * hard + soft_weight * soft
    return hard.sum(dim=0), objective.sum(dim=0)


@torch.inference_mode()
def name_nats(
    model: CharModel, vocabulary: Vocabulary, names: list[str], tags: torch.Tensor | None = None
) -> list[float]:
    """Each name's negative log-likelihood in nats, in the order given (given its tags)."""
    device = model.decoder.weight.device

    def score(chunk: list[int], encoded: list[list[int]]) -> list[float]:
        chunk_tags = None if tags is None else tags[chunk]
        batch = collate([encoded[index] for index in chunk], chunk_tags).to(device)
        return batch_nats(model, batch).tolist()

    return _longest_first(vocabulary, names, score)


@torch.inference_mode()
def stepper_nats(stepper: Stepper, vocabulary: Vocabulary, names: list[str]) -> list[float]:
    """Each name's negative log-likelihood in nats as the sampler sees it: one step at a
    time through `stepper`, in its products' precision, without style tags. The names must
    hold no unknown characters, which the sampler gives probability zero."""

    def score(chunk: list[int], encoded: list[list[int]]) -> list[float]:
        batch = collate([encoded[index] for index in chunk]).to(stepper.device)
        state = stepper.initial_state(len(chunk))
        totals = torch.zeros(len(chunk), dtype=torch.float64, device=stepper.device)
        for inputs, targets in zip(batch.inputs, batch.targets, strict=True):
            logits, state = stepper.step(inputs, state)
            log_p = torch.log_softmax(logits.double(), dim=1)
            going = targets != PAD  # rows past their end read padding; it is not scored
            totals[going] -= log_p[going, targets[going]]
        return totals.tolist()

    return _longest_first(vocabulary, names, score)


def _longest_first(vocabulary: Vocabulary, names: list[str], score) -> list[float]:
    """score(chunk, encoded) over batches of names of similar length, longest first (little
    padding), each name's figure put back in the order given."""
    encoded = [vocabulary.encode(name) for name in names]
    order = sorted(range(len(names)), key=lambda index: -len(encoded[index]))
    figures = [0.0] * len(names)
    for start in range(0, len(order), SCORING_BATCH_SIZE):
        chunk = order[start : start + SCORING_BATCH_SIZE]
        for index, value in zip(chunk, score(chunk, encoded), strict=True):
            figures[index] = value
    return figures


@torch.inference_mode()
def symbol_probabilities(
    model: CharModel, vocabulary: Vocabulary, names: list[str]
) -> torch.Tensor:
    """p of every symbol of every name given the ones before it, END included: name by name,
    in the order given, as one float64 vector."""
    device = model.decoder.weight.device
    pieces = []
    for start in range(0, len(names), SCORING_BATCH_SIZE):
        encoded = [vocabulary.encode(name) for name in names[start : start + SCORING_BATCH_SIZE]]
        batch = collate(encoded).to(device)
        logits, _ = model(batch.inputs, lengths=batch.lengths)
        chosen = torch.log_softmax(logits.double(), dim=2).gather(2, batch.targets.unsqueeze(2))
        for column, sequence in enumerate(encoded):
            pieces.append(chosen[: len(sequence) + 1, column, 0].exp().cpu())
    return torch.cat(pieces)


def nats_to_bits(nats: float) -> float:
    return nats / math.log(2)
