"""Batched sampling: many names at once, one character of every name per step."""

from __future__ import annotations

import torch

from generator.names import MAX_NAME_LENGTH
from generator.stepper import Stepper
from generator.vocab import END, PAD, START, UNK, Vocabulary

# Symbols the model may score but must never write into a name.
NEVER_SAMPLED = (PAD, START, UNK)


@torch.inference_mode()
def sample_continuations(
    stepper: Stepper,
    vocabulary: Vocabulary,
    primes: list[str],
    temperatures: torch.Tensor,
    generator: torch.Generator | None = None,
) -> list[str | None]:
    """Continue each prime into a name; None where no end came within MAX_NAME_LENGTH.

    Rows may have primes of different lengths: a row reads its prime one character a step
    while the others already write, so all rows share each step's matrix products.
    """
    device = stepper.shift.device
    rows = len(primes)
    prime_ids = [[START, *vocabulary.encode(prime)] for prime in primes]
    prime_lengths = torch.tensor([len(ids) for ids in prime_ids], device=device)
    longest_prime = int(prime_lengths.max())
    forced = torch.full((rows, longest_prime), PAD, dtype=torch.long, device=device)
    for row, ids in enumerate(prime_ids):
        forced[row, : len(ids)] = torch.tensor(ids, device=device)
    # a name may not grow past MAX_NAME_LENGTH characters, prime included
    last_step = prime_lengths + torch.tensor(
        [max(MAX_NAME_LENGTH - len(prime), 0) for prime in primes], device=device
    )

    written = torch.full((rows, longest_prime + MAX_NAME_LENGTH + 1), PAD, device=device)
    ended = torch.zeros(rows, dtype=torch.bool, device=device)
    inverse_temperature = (1.0 / temperatures.to(device)).unsqueeze(1)
    state = stepper.initial_state(rows)
    tokens = forced[:, 0]
    for step in range(int(last_step.max())):
        logits, state = stepper.step(tokens, state)
        logits[:, NEVER_SAMPLED] = float("-inf")
        probabilities = torch.softmax(logits * inverse_temperature, dim=1)
        sampled = torch.multinomial(probabilities, 1, generator=generator).squeeze(1)

        position = step + 1
        if position < longest_prime:
            still_reading = position < prime_lengths
            sampled = torch.where(still_reading, forced[:, position], sampled)
        else:
            still_reading = torch.zeros_like(ended)
        writing = ~still_reading & ~ended
        written[:, position] = torch.where(writing, sampled, PAD)
        ended |= writing & (sampled == END)
        if bool(ended.all()):
            break
        tokens = sampled

    return [
        _decode_row(vocabulary, written[row, int(prime_lengths[row]) :].tolist())
        if ended[row]
        else None
        for row in range(rows)
    ]


def _decode_row(vocabulary: Vocabulary, ids: list[int]) -> str:
    return vocabulary.decode(ids[: ids.index(END)])
