"""Turning names into padded, length-bucketed training batches."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from generator.vocab import END, PAD, START, Vocabulary

# Names are shuffled, then sorted by length inside windows of this many batches, so that a
# batch holds names of similar length (little padding) while the order stays random.
BUCKET_WINDOW_BATCHES = 32


@dataclass(frozen=True)
class Batch:
    inputs: torch.Tensor  # (T, N): <start> then the characters
    targets: torch.Tensor  # (T, N): the characters then <end>, <pad> after the end
    symbols: int  # predicted symbols, end symbols included: the denominator of bits per char
    tags: torch.Tensor | None = None  # (N, K) multi-hot style tags, for a genre-aware model
    lengths: tuple[int, ...] | None = None  # steps of each column before its padding

    def to(self, device: torch.device) -> Batch:
        tags = None if self.tags is None else self.tags.to(device)
        inputs, targets = self.inputs.to(device), self.targets.to(device)
        return Batch(inputs, targets, self.symbols, tags, self.lengths)


def encode_names(names: list[str], vocabulary: Vocabulary) -> list[list[int]]:
    return [vocabulary.encode(name) for name in names]


def tag_matrix(tag_sets: list[frozenset[str]], genre_tags: tuple[str, ...]) -> torch.Tensor:
    """Multi-hot rows (N, K): 1 where a name carries the k-th of `genre_tags`."""
    matrix = torch.zeros(len(tag_sets), len(genre_tags))
    for row, tags in enumerate(tag_sets):
        for column, tag in enumerate(genre_tags):
            if tag in tags:
                matrix[row, column] = 1.0
    return matrix


def collate(sequences: list[list[int]], tags: torch.Tensor | None = None) -> Batch:
    """Pad a list of encoded names into one time-major batch."""
    steps = max(len(sequence) for sequence in sequences) + 1
    inputs = torch.full((steps, len(sequences)), PAD, dtype=torch.long)
    targets = torch.full((steps, len(sequences)), PAD, dtype=torch.long)
    for column, sequence in enumerate(sequences):
        length = len(sequence)
        inputs[0, column] = START
        inputs[1 : length + 1, column] = torch.tensor(sequence, dtype=torch.long)
        targets[:length, column] = torch.tensor(sequence, dtype=torch.long)
        targets[length, column] = END
    lengths = tuple(len(sequence) + 1 for sequence in sequences)
    return Batch(inputs, targets, sum(lengths), tags, lengths)


def epoch_plan(lengths: list[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """The batches of one epoch, as lists of name indices.

    The plan depends only on the lengths, the seed and the epoch number, so a resumed run
    walks through exactly the batches the interrupted one would have.
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * BUCKET_WINDOW_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda index: lengths[index])
        # each batch longest name first, the order the MI-LSTM runs its rows in
        batches.extend(chunk[i : i + batch_size][::-1] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def fixed_batches(
    sequences: list[list[int]], batch_size: int, tags: torch.Tensor | None = None
) -> list[Batch]:
    """Batches in length order, for evaluation, where order does not matter but padding does."""
    order = sorted(range(len(sequences)), key=lambda index: -len(sequences[index]))
    batches = []
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        chunk_tags = None if tags is None else tags[chunk]
        batches.append(collate([sequences[index] for index in chunk], chunk_tags))
    return batches
