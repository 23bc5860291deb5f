"""NameGenerator: the one object the command line and the bot need."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import torch

from generator.batches import tag_matrix
from generator.checkpoint import load_checkpoint
from generator.freshness import KnownNames
from generator.model import CharModel
from generator.names import freshness_key
from generator.request import DEFAULT_TEMPERATURE, GenerationRequest
from generator.sampling import PrimeStates, sample_continuations
from generator.scoring import name_nats, nats_to_bits
from generator.stepper import Stepper
from generator.vocab import Vocabulary

log = logging.getLogger(__name__)

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "checkpoints" / "bandname.safetensors"

# Rejected samples (real bands, repeats, names that never ended) are drawn again, at most
# this many rounds; each round asks for a few more rows than are missing.
MAX_SAMPLING_ROUNDS = 8
EXTRA_ROWS_FRACTION = 0.25


class NameGenerator:
    """Samples fresh band names from a trained model."""

    def __init__(
        self,
        model: CharModel,
        vocabulary: Vocabulary,
        known_names: KnownNames,
        training: dict | None = None,
    ) -> None:
        self.model = model.eval()
        self.stepper = Stepper(self.model)
        self.prime_states = PrimeStates()
        self.vocabulary = vocabulary
        self.known_names = known_names
        self.training = training or {}

    @classmethod
    def load(cls, path: str | Path | None = None, device: str = "cpu") -> NameGenerator:
        """Load a checkpoint; None means the model shipped in checkpoints/."""
        checkpoint = load_checkpoint(DEFAULT_CHECKPOINT if path is None else path)
        model = checkpoint.build_model(device)
        return cls(model, checkpoint.vocabulary, checkpoint.known_names, checkpoint.training)

    def generate(
        self,
        n: int = 10,
        prime: str = "",
        temperature: float = DEFAULT_TEMPERATURE,
        seed: int | None = None,
        genre: str | None = None,
    ) -> list[str]:
        """`n` distinct names starting with `prime`, none of them a band the model trained on,
        in the style of `genre` (one of `genres`) if given."""
        return self.generate_many([GenerationRequest(n, prime, temperature, seed, genre)])[0]

    @property
    def genres(self) -> tuple[str, ...]:
        """The style tags this model can be asked for; empty if it was trained without."""
        return self.model.config.genre_tags

    def generate_many(self, requests: list[GenerationRequest]) -> list[list[str]]:
        """Answer several requests in shared batched passes; the answers come in order.

        Requests with a seed are sampled on their own, so the same seed gives the same names
        whatever else is asked at the same time.
        """
        for genre in {request.genre for request in requests}:
            self.stepper.gate_tables([genre])  # refuses a genre the model lacks, before any work
        answers: list[list[str]] = [[] for _ in requests]
        unseeded = [index for index, request in enumerate(requests) if request.seed is None]
        if unseeded:
            self._fill(requests, unseeded, answers, generator=None)
        for index, request in enumerate(requests):
            if request.seed is not None:
                generator = torch.Generator(self.model.decoder.weight.device)
                generator.manual_seed(request.seed)
                self._fill(requests, [index], answers, generator)
        return answers

    def score(self, names: list[str], genres: list[frozenset[str]] | None = None) -> list[float]:
        """Each name's log-probability in bits (negative; its end symbol included), given
        each name's set of style tags when `genres` is given."""
        tags = None if genres is None else tag_matrix(genres, self.genres)
        nats = name_nats(self.model, self.vocabulary, names, tags)
        return [-nats_to_bits(value) for value in nats]

    def _fill(
        self,
        requests: list[GenerationRequest],
        indices: list[int],
        answers: list[list[str]],
        generator: torch.Generator | None,
    ) -> None:
        taken = {index: set() for index in indices}
        for _ in range(MAX_SAMPLING_ROUNDS):
            rows = []
            for index in indices:
                missing = requests[index].n - len(answers[index])
                if missing > 0:
                    rows += [index] * (missing + math.ceil(missing * EXTRA_ROWS_FRACTION))
            if not rows:
                return
            continuations = sample_continuations(
                self.stepper,
                self.vocabulary,
                [requests[index].prime for index in rows],
                torch.tensor([requests[index].temperature for index in rows]),
                generator,
                self.prime_states,
                [requests[index].genre for index in rows],
            )
            for index, continuation in zip(rows, continuations, strict=True):
                if continuation is None or len(answers[index]) >= requests[index].n:
                    continue
                name = requests[index].prime + continuation.rstrip()
                key = freshness_key(name)
                if key and key not in taken[index] and name not in self.known_names:
                    taken[index].add(key)
                    answers[index].append(name)
        for index in indices:
            if len(answers[index]) < requests[index].n:
                log.warning(
                    "found only %d of %d fresh names for prime %r after %d rounds",
                    len(answers[index]),
                    requests[index].n,
                    requests[index].prime,
                    MAX_SAMPLING_ROUNDS,
                )
