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
    """The states after reading recently used (prime, genre) pairs, least recently used
    forgotten first."""

    def __init__(self, capacity: int = PRIME_MEMORY) -> None:
        self.capacity = capacity
        self._states: OrderedDict[tuple[str, str | None], PrimeState] = OrderedDict()

    def get(self, key: tuple[str, str | None]) -> PrimeState | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
        return state

    def put(self, key: tuple[str, str | None], state: PrimeState) -> None:
        self._states[key] = state
        self._states.move_to_end(key)
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
    genres: list[str | None] | None = None,
) -> list[str | None]:
    """Continue each prime into a name (in its row's genre, if any); None where no end came
    within MAX_NAME_LENGTH."""
    genres = genres or [None] * len(primes)
    keys = list(zip(primes, genres, strict=True))
    distinct = list(dict.fromkeys(keys))
    hidden, cell, logits = _read_primes(stepper, vocabulary, distinct, prime_states)
    device = hidden.device
    row_key = torch.tensor([distinct.index(key) for key in keys], device=device)
    hidden, cell, logits = hidden[row_key], cell[row_key], logits[row_key]
    tables, genre_rows = _tables_and_rows(stepper, genres, device)
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
            genre_rows = None if genre_rows is None else genre_rows.index_select(0, kept)
        symbols = tables.symbols(sampled, genre_rows)
        logits, (hidden, cell) = stepper.step(symbols, (hidden, cell), tables)

    return [
        vocabulary.decode(_until_end(written[row].tolist())) if ended[row] else None
        for row in range(rows)
    ]


def _tables_and_rows(stepper: Stepper, genres: list[str | None], device: torch.device):
    """The gate tables these rows need, and each row's genre among them (None: all plain)."""
    distinct = list(dict.fromkeys(genres))
    if distinct == [None]:
        return stepper.plain_tables, None
    rows = torch.tensor([distinct.index(genre) for genre in genres], device=device)
    return stepper.gate_tables(distinct), rows


def _read_primes(
    stepper: Stepper,
    vocabulary: Vocabulary,
    keys: list[tuple[str, str | None]],
    remembered: PrimeStates | None,
) -> PrimeState:
    """The state after <start> and each (prime, genre), one row each, from memory if it can."""
    known = {key: remembered.get(key) for key in keys} if remembered else {}
    missing = [key for key in keys if known.get(key) is None]
    if missing:
        for key, state in zip(missing, _read(stepper, vocabulary, missing), strict=True):
            known[key] = state
            if remembered is not None:
                remembered.put(key, state)
    return tuple(torch.stack([known[key][part] for key in keys]) for part in range(3))


def _read(
    stepper: Stepper, vocabulary: Vocabulary, keys: list[tuple[str, str | None]]
) -> list[PrimeState]:
    """Read primes of different lengths side by side; a row stops changing when its prime ends.

    A row starts from the state after <start> and its prime's first symbol in its genre,
    which the stepper keeps for every symbol (or after <start> alone, for an empty prime).
    """
    ids = [vocabulary.encode(prime) for prime, _ in keys]
    genres = [genre for _, genre in keys]
    device = stepper.device
    starts = []
    for row_ids, genre in zip(ids, genres, strict=True):
        if row_ids:
            hidden, cell = stepper.first_symbol_states(genre)
            starts.append((hidden[row_ids[0]], cell[row_ids[0]]))
        else:
            starts.append(stepper.start_state(genre)[:2])
    hidden, cell = (torch.stack([start[part] for start in starts]) for part in range(2))

    rest = [row_ids[1:] for row_ids in ids]
    lengths = torch.tensor([len(row) for row in rest], device=device)
    longest, shortest = int(lengths.max()), int(lengths.min())
    if longest:
        forced = torch.full((len(rest), longest), PAD, dtype=torch.long, device=device)
        for row, row_ids in enumerate(rest):
            forced[row, : len(row_ids)] = torch.tensor(row_ids, dtype=torch.long, device=device)
        tables, genre_rows = _tables_and_rows(stepper, genres, device)
    for t in range(longest):
        symbols = tables.symbols(forced[:, t], genre_rows)
        new_hidden, new_cell = stepper.advance(symbols, (hidden, cell), tables)
        if t < shortest:  # every row is still reading
            hidden, cell = new_hidden, new_cell
            continue
        reading = (t < lengths).unsqueeze(1)
        hidden = torch.where(reading, new_hidden, hidden)
        cell = torch.where(reading, new_cell, cell)
    logits = stepper.logits(hidden)
    return [(hidden[row], cell[row], logits[row]) for row in range(len(ids))]


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
