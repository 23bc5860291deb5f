"""A moving average of a model's weights, validated and shipped in place of the raw weights.

Late in training the weights wander around a good region with the noise of each batch; their
running mean sits nearer its middle and usually scores better on names it has not seen, much
as an ensemble of the recent models would, at the price of one model.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

# Early on a mean over the last 1/(1 - decay) steps would reach back to the random start;
# the decay of step t is at most (1 + t) / (WARMUP + t), so the mean starts short and grows.
WARMUP = 10


class WeightAverage:
    """An exponential moving average of every parameter of `model`."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        if not 0.0 < decay < 1.0:
            raise ValueError(f"the decay of a weight average is in (0, 1), got {decay}")
        self.decay = decay
        self.updates = 0
        self._parameters = dict(model.named_parameters())
        self._average = {name: p.detach().clone() for name, p in self._parameters.items()}

    @torch.no_grad()
    def update(self) -> None:
        """Fold the current weights in; call after every optimizer step."""
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (WARMUP + self.updates))
        names = list(self._average)
        torch._foreach_lerp_(
            [self._average[name] for name in names],
            [self._parameters[name].detach() for name in names],
            1.0 - decay,
        )

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Inside the block the model holds the averaged weights; after it, its own again."""
        with torch.no_grad():
            own = {name: p.detach().clone() for name, p in self._parameters.items()}
            for name, parameter in self._parameters.items():
                parameter.copy_(self._average[name])
        try:
            yield
        finally:
            with torch.no_grad():
                for name, parameter in self._parameters.items():
                    parameter.copy_(own[name])

    def state_dict(self) -> dict[str, torch.Tensor]:
        return dict(self._average)

    def load_state_dict(self, state: dict[str, torch.Tensor], updates: int) -> None:
        missing = set(self._average) - set(state)
        if missing:
            raise ValueError(f"the saved weight average lacks {', '.join(sorted(missing))}")
        for name, average in self._average.items():
            average.copy_(state[name])
        self.updates = updates
