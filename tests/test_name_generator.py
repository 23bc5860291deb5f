"""NameGenerator on a tiny trained model: fresh, distinct names that honour the prime."""

import pytest
import torch

from generator import GenerationRequest, NameGenerator
from generator.names import freshness_key
from generator.request import MAX_PRIME_LENGTH
from generator.vocab import UNK
from tests.conftest import made_up_band_names

TRAINING_KEYS = {freshness_key(name) for name in made_up_band_names()}


@pytest.fixture(scope="module")
def generator(tiny_checkpoint) -> NameGenerator:
    return NameGenerator.load(tiny_checkpoint)


def test_names_are_distinct_fresh_and_exactly_n(generator):
    names = generator.generate(n=40, temperature=1.0, seed=1)
    assert len(names) == 40
    assert len({freshness_key(name) for name in names}) == 40
    assert not {freshness_key(name) for name in names} & TRAINING_KEYS


def test_every_name_starts_with_the_prime_as_typed(generator):
    for prime in ["Rot", "ЖУТЬ ", "Q", "x" * MAX_PRIME_LENGTH]:
        names = generator.generate(n=5, prime=prime, seed=2)
        assert len(names) == 5
        assert all(name.startswith(prime) for name in names), names


def test_the_same_seed_gives_the_same_names(generator):
    assert generator.generate(n=8, seed=5) == generator.generate(n=8, seed=5)
    assert generator.generate(n=8, seed=5) != generator.generate(n=8, seed=6)


def test_generate_many_answers_each_request_in_order(generator):
    requests = [GenerationRequest(3, "Vile"), GenerationRequest(7, ""), GenerationRequest(1, "Ø")]
    answers = generator.generate_many(requests)
    assert [len(answer) for answer in answers] == [3, 7, 1]
    assert all(name.startswith("Vile") for name in answers[0])
    assert answers[2][0].startswith("Ø")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"prime": "x" * (MAX_PRIME_LENGTH + 1)}, "the most is 32"),
        ({"prime": "Rot\nting"}, "control characters"),
        ({"prime": "   "}, "blank"),
        ({"n": 0}, "between 1 and 100"),
        ({"n": 101}, "between 1 and 100"),
        ({"temperature": 0}, "temperature"),
        ({"temperature": 2.5}, "temperature"),
    ],
)
def test_bad_requests_raise_value_error_with_a_usable_message(generator, arguments, message):
    with pytest.raises(ValueError, match=message):
        generator.generate(**arguments)


def test_score_prefers_names_like_the_training_data(generator):
    likely, unlikely = generator.score(["Rotting Altar", "Xqzj Vvvvkkk"])
    assert likely < 0 and unlikely < 0
    assert likely > unlikely


def test_the_unknown_symbol_is_never_sampled(tiny_checkpoint):
    generator = NameGenerator.load(tiny_checkpoint)
    with torch.no_grad():  # a model that would otherwise write <unk> almost every time
        generator.model.decoder.bias[UNK] = 50.0
    generator = NameGenerator(generator.model, generator.vocabulary, generator.known_names)
    names = generator.generate(n=5, seed=0)
    assert len(names) == 5 and all(names)


def test_remembering_a_prime_changes_no_name(generator):
    generator.prime_states.clear()
    first = generator.generate(n=6, prime="Grave", seed=11)  # the prime is read here
    second = generator.generate(n=6, prime="Grave", seed=11)  # and remembered here
    assert first == second


def test_draws_follow_the_distribution_and_skip_impossible_symbols():
    from generator.sampling import _draw

    probabilities = torch.tensor([[0.0, 0.5, 0.0, 0.25, 0.25]]).repeat(40_000, 1)
    draws = _draw(probabilities, torch.Generator().manual_seed(0))
    shares = torch.bincount(draws, minlength=5).float() / len(draws)
    assert shares[0] == 0 and shares[2] == 0
    torch.testing.assert_close(shares, probabilities[0], atol=0.01, rtol=0)


def test_primes_of_different_lengths_read_together_match_reading_alone(generator):
    from generator.sampling import _read

    keys = [("Rot", None), ("Grave Ritual", "doom"), ("", None), ("", "brutal")]
    together = _read(generator.stepper, generator.vocabulary, keys)
    for key, state in zip(keys, together, strict=True):
        (alone,) = _read(generator.stepper, generator.vocabulary, [key])
        for part, expected in zip(state, alone, strict=True):
            torch.testing.assert_close(part, expected)
