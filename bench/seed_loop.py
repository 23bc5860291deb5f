"""A faithful re-implementation of the seed's training loop, the baseline our training beats.

The seed built its MI-LSTM cell from eight nn.Linear layers, a W and a U for each gate, and
trained one name per optimizer step, calling the cell once per character from Python. For
each gate k in (i, f, o, z), as in Wu et al. 2016:

    pre_k = alpha_k * (W_k x) * (U_k h) + beta1_k * (U_k h) + beta2_k * (W_k x) + b_k

with b_k the bias of the W_k layer. Nothing here is used by the project itself; it exists so
that the speed-up over the seed is measured rather than remembered.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

from generator.vocab import END, START

GATES = ("i", "f", "o", "z")

State = tuple[torch.Tensor, torch.Tensor]


class SeedMILSTMCell(nn.Module):
    """One step of the MI-LSTM for a single name, gate by gate: (1, E), (h, c) -> (h, c)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.input_layers = nn.ModuleDict({k: nn.Linear(input_size, hidden_size) for k in GATES})
        self.recurrent_layers = nn.ModuleDict(
            {k: nn.Linear(hidden_size, hidden_size, bias=False) for k in GATES}
        )
        self.alpha = nn.ParameterDict({k: nn.Parameter(torch.ones(hidden_size)) for k in GATES})
        self.beta1 = nn.ParameterDict({k: nn.Parameter(torch.ones(hidden_size)) for k in GATES})
        self.beta2 = nn.ParameterDict({k: nn.Parameter(torch.ones(hidden_size)) for k in GATES})

    def gate(self, k: str, inputs: torch.Tensor, hidden: torch.Tensor) -> torch.Tensor:
        input_term = self.input_layers[k](inputs)
        recurrent_term = self.recurrent_layers[k](hidden)
        return (
            self.alpha[k] * input_term * recurrent_term
            + self.beta1[k] * recurrent_term
            + self.beta2[k] * input_term
        )

    def forward(self, inputs: torch.Tensor, state: State) -> State:
        hidden, cell = state
        input_gate = torch.sigmoid(self.gate("i", inputs, hidden))
        forget_gate = torch.sigmoid(self.gate("f", inputs, hidden))
        output_gate = torch.sigmoid(self.gate("o", inputs, hidden))
        block_input = torch.tanh(self.gate("z", inputs, hidden))
        cell = forget_gate * cell + input_gate * block_input
        return output_gate * torch.tanh(cell), cell


class SeedCharModel(nn.Module):
    """Embedding, the gate-by-gate cell and a linear decoder, as the seed had them."""

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.cell = SeedMILSTMCell(embedding_size, hidden_size)
        self.decoder = nn.Linear(hidden_size, vocab_size)


def name_loss(model: SeedCharModel, ids: list[int]) -> torch.Tensor:
    """Cross-entropy of one encoded name, summed over its characters and end symbol."""
    hidden = torch.zeros(1, model.cell.hidden_size)
    state = (hidden, hidden.clone())
    loss = torch.zeros(())
    for current, following in zip([START, *ids], [*ids, END], strict=True):
        state = model.cell(model.embedding(torch.tensor([current])), state)
        loss = loss + F.cross_entropy(model.decoder(state[0]), torch.tensor([following]))
    return loss


def train_on_name(model: SeedCharModel, optimizer: torch.optim.Optimizer, ids: list[int]) -> int:
    """One optimizer step on one encoded name; returns the symbols predicted (end included)."""
    loss = name_loss(model, ids)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return len(ids) + 1


def time_seed_loop(
    model: SeedCharModel,
    optimizer: torch.optim.Optimizer,
    warmup_names: list[list[int]],
    timed_names: list[list[int]],
) -> tuple[int, float]:
    """Train on the warm-up names untimed, then on the timed ones: (symbols, seconds)."""
    for ids in warmup_names:
        train_on_name(model, optimizer, ids)
    started = time.perf_counter()
    symbols = sum(train_on_name(model, optimizer, ids) for ids in timed_names)
    return symbols, time.perf_counter() - started
