"""Soft training targets from a Kneser-Ney n-gram that never saw the name it predicts.

With `--ngram-targets W` every training symbol's target is no longer the symbol alone but

    q = (1 - W) onehot(symbol) + W p_ngram(. | the name so far)

where p_ngram comes from a character n-gram (generator/ngram.py) fitted on the other
training names: the names are dealt into folds, and each fold is predicted by a model of
the rest. The n-gram remembers exact spellings that a network trained with dropout does
not, and it spreads the target over the symbols other names continue with; held out, it
passes on only what generalizes to a name it has not seen. The network is still a single
model, scored and sampled as before: the n-gram is used while training and then dropped.
"""

from __future__ import annotations

import logging
import time

import torch

from generator.ngram import DEFAULT_ORDER, KneserNeyModel
from generator.vocab import Vocabulary

log = logging.getLogger(__name__)

FOLDS = 5


def heldout_ngram_targets(
    names: list[str], vocabulary: Vocabulary, order: int = DEFAULT_ORDER, folds: int = FOLDS
) -> list[torch.Tensor]:
    """For each name, p(. | prefix) over the vocabulary at each of its len(name) + 1
    predicted symbols (float16, (len + 1, V)), from an n-gram fitted without that name.

    Name i falls in fold i % folds. The result depends only on the names, their order and
    the settings, so a resumed run computes the same targets again.
    """
    if folds < 2:
        raise ValueError(f"held-out targets need at least 2 folds, not {folds}")
    started = time.perf_counter()
    by_index: dict[int, torch.Tensor] = {}
    for fold in range(folds):
        others = [name for index, name in enumerate(names) if index % folds != fold]
        model = KneserNeyModel.fit(others, vocabulary, order)
        for index in range(fold, len(names), folds):
            rows = model.distributions(names[index])
            by_index[index] = torch.tensor(rows, dtype=torch.float16)
    log.info(
        "held-out %d-gram targets for %d names (%d folds) in %.0f s",
        order,
        len(names),
        folds,
        time.perf_counter() - started,
    )
    return [by_index[index] for index in range(len(names))]


def stack_targets(targets: list[torch.Tensor], steps: int) -> torch.Tensor:
    """The targets of a batch's names as one time-major tensor (steps, N, V), zero past
    each name's end, in float32."""
    vocabulary_size = targets[0].shape[1]
    stacked = torch.zeros(steps, len(targets), vocabulary_size)
    for column, rows in enumerate(targets):
        stacked[: len(rows), column] = rows
    return stacked
