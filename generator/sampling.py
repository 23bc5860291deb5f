"""Batched sampling: many names at once, one character of every name per step.

Sampling runs in two phases. First each distinct prime is read (all of them together, one
character a step), giving the state and next-character scores every name starting with it
begins from; recent primes are remembered, so a popular prime is read once. Then all rows
write together, and a row leaves the batch as soon as its name ends, so the last steps
only pay for the names still being written.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from generator.names import MAX_NAME_LENGTH
from generator.stepper import Stepper
from generator.vocab import END, PAD, Vocabulary

# How many primes' states a generator remembers: about 9 KB each at hidden size 1024.
PRIME_MEMORY = 256

PrimeState = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # hidden, cell, logits: one row


class PrimeStates:
    """The states after reading recently used primes, least recently used forgotten first."""

    def __init__(self, capacity: int = PRIME_MEMORY) -> None:
        self.capacity = capacity
        self._states: OrderedDict[str, PrimeState] = OrderedDict()

    def get(self, prime: str) -> PrimeState | None:
        state = self._states.get(prime)
        if state is not None:
            self._states.move_to_end(prime)
        return state

    def put(self, prime: str, state: PrimeState) -> None:
        self._states[prime] = state
        self._states.move_to_end(prime)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)

    def clear(self) -> None:
        self._states.clear()


@torch.inference_mode()
def sample_continuations(
    stepper: Stepper,
    vocabulary: Vocabulary,
    primes: list[str],
    temperatures: torch.Tensor,
    generator: torch.Generator | None = None,
    prime_states: PrimeStates | None = None,
) -> list[str | None]:
    """Continue each prime into a name; None where no end came within MAX_NAME_LENGTH."""
    distinct = list(dict.fromkeys(primes))
    hidden, cell, logits = _read_primes(stepper, vocabulary, distinct, prime_states)
    device = hidden.device
    row_prime = torch.tensor([distinct.index(prime) for prime in primes], device=device)
    hidden, cell, logits = hidden[row_prime], cell[row_prime], logits[row_prime]
    # a name may not grow past MAX_NAME_LENGTH characters, prime included
    budget = torch.tensor([max(MAX_NAME_LENGTH - len(p), 0) for p in primes], device=device)
    inverse_temperature = (1.0 / temperatures.to(device)).unsqueeze(1)

    rows = len(primes)
    active = torch.arange(rows, device=device)  # rows still writing
    written = torch.full((rows, MAX_NAME_LENGTH + 1), PAD, device=device)
    ended = torch.zeros(rows, dtype=torch.bool, device=device)
    for position in range(int(budget.max()) + 1):
        sampled = _draw(torch.softmax(logits * inverse_temperature, dim=1), generator)
        written[active, position] = sampled
        finished = sampled == END
        ended[active[finished]] = True
        keep = ~finished & (position < budget)
        if not bool(keep.all()):
            kept = keep.nonzero().squeeze(1)
            if kept.numel() == 0:
                break
            active, sampled, hidden, cell, inverse_temperature, budget = (
                tensor.index_select(0, kept)
                for tensor in (active, sampled, hidden, cell, inverse_temperature, budget)
            )
        logits, (hidden, cell) = stepper.step(sampled, (hidden, cell))

    return [
        vocabulary.decode(_until_end(written[row].tolist())) if ended[row] else None
        for row in range(rows)
    ]


def _read_primes(
    stepper: Stepper,
    vocabulary: Vocabulary,
    primes: list[str],
    remembered: PrimeStates | None,
) -> PrimeState:
    """The state after <start> and each prime, one row a prime, from memory where it can."""
    known = {prime: remembered.get(prime) for prime in primes} if remembered else {}
    missing = [prime for prime in primes if known.get(prime) is None]
    if missing:
        for prime, state in zip(missing, _read(stepper, vocabulary, missing), strict=True):
            known[prime] = state
            if remembered is not None:
                remembered.put(prime, state)
    return tuple(torch.stack([known[prime][part] for prime in primes]) for part in range(3))


def _read(stepper: Stepper, vocabulary: Vocabulary, primes: list[str]) -> list[PrimeState]:
    """Read primes of different lengths side by side; a row stops changing when its prime ends.

    Every row starts from the state after <start>, which the stepper keeps ready.
    """
    ids = [vocabulary.encode(prime) for prime in primes]
    device = stepper.shift.device
    lengths = torch.tensor([len(row) for row in ids], device=device)
    forced = torch.full((len(ids), int(lengths.max())), PAD, dtype=torch.long, device=device)
    for row, row_ids in enumerate(ids):
        forced[row, : len(row_ids)] = torch.tensor(row_ids, dtype=torch.long, device=device)

    shortest = int(lengths.min())
    hidden, cell, final_logits = (part.expand(len(ids), -1) for part in stepper.start_state)
    for t in range(forced.shape[1]):
        logits, (new_hidden, new_cell) = stepper.step(forced[:, t], (hidden, cell))
        if t < shortest:  # every row is still reading
            hidden, cell, final_logits = new_hidden, new_cell, logits
            continue
        reading = (t < lengths).unsqueeze(1)
        hidden = torch.where(reading, new_hidden, hidden)
        cell = torch.where(reading, new_cell, cell)
        final_logits = torch.where(reading, logits, final_logits)
    return [(hidden[row], cell[row], final_logits[row]) for row in range(len(ids))]


def _draw(probabilities: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """One symbol a row, by inverse transform sampling: (N, V) -> (N,).

    One uniform number a row against the cumulative distribution: torch.multinomial draws
    a random number for every symbol, twenty times slower at our sizes.
    """
    cumulative = probabilities.cumsum(dim=1)
    uniform = torch.rand(cumulative.shape[0], 1, generator=generator, device=cumulative.device)
    # scaled by the row's total, so rounding can never point past the last symbol; with
    # right=True a symbol of probability zero is never chosen
    thresholds = uniform * cumulative[:, -1:]
    return torch.searchsorted(cumulative, thresholds, right=True).squeeze(1)


def _until_end(ids: list[int]) -> list[int]:
    return ids[: ids.index(END)]
