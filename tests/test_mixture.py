"""Per-symbol probabilities, and ensembles and n-gram mixtures measured from them."""

import math

import pytest

from generator import NameGenerator
from generator.errors import BandnameError
from generator.mixture import main, measure
from generator.names import load_names
from generator.ngram import KneserNeyModel
from generator.scoring import name_nats, symbol_probabilities
from generator.training import train
from tests.conftest import tiny_options


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, bands_csv):
    folder = tmp_path_factory.mktemp("mixture")
    paths = []
    for seed in (0, 1):
        out = folder / f"m{seed}.safetensors"
        train(tiny_options(bands_csv, out, epochs=2, seed=seed, genre_column=""))
        paths.append(out)
    return paths


def test_symbol_probabilities_multiply_to_each_name_probability(two_models):
    generator = NameGenerator.load(two_models[0])
    names = ["Grave Moss", "Ur", "Vomitorium of Ash"]
    probabilities = symbol_probabilities(generator.model, generator.vocabulary, names)
    assert len(probabilities) == sum(len(name) + 1 for name in names)
    nats = name_nats(generator.model, generator.vocabulary, names)
    start = 0
    for name, expected in zip(names, nats, strict=True):
        piece = probabilities[start : start + len(name) + 1]
        assert -piece.log().sum().item() == pytest.approx(expected, rel=1e-5)
        start += len(name) + 1


def test_ngram_symbol_probabilities_match_its_log_probability(two_models):
    vocabulary = NameGenerator.load(two_models[0]).vocabulary
    ngram = KneserNeyModel.fit(["Abbath", "Asphyx", "Atheist"], vocabulary, order=3)
    probabilities = ngram.symbol_probabilities("Athe")
    assert len(probabilities) == 5
    assert sum(math.log(p) for p in probabilities) == pytest.approx(ngram.log_probability("Athe"))


def test_ensembles_and_mixtures_score_no_worse_than_their_parts(two_models, bands_csv):
    generators = [NameGenerator.load(path) for path in two_models]
    result = measure(generators, load_names(str(bands_csv)), order=3)
    alone = result["models"]
    assert alone[0] != alone[1]
    # the log of a mean is at least the mean of the logs
    assert result["ensemble"] <= sum(alone) / 2 + 1e-9
    assert result["mixture"] <= min(result["ensemble"], result["ngram"]) + 1e-9

    same = measure([generators[0], generators[0]], load_names(str(bands_csv)), order=3)
    assert same["ensemble"] == pytest.approx(alone[0])


def test_checkpoints_with_other_held_out_names_are_refused(tmp_path, two_models, bands_csv):
    other = tmp_path / "other.safetensors"
    train(tiny_options(bands_csv, other, epochs=1, split_seed=9, genre_column=""))
    generators = [NameGenerator.load(two_models[0]), NameGenerator.load(other)]
    with pytest.raises(BandnameError, match="different names"):
        measure(generators, load_names(str(bands_csv)), order=3)


def test_command_line_prints_every_figure(two_models, bands_csv, capsys):
    argv = ["--data", str(bands_csv), "--order", "3"]
    argv += [arg for path in two_models for arg in ("--checkpoint", str(path))]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "the mean of the 2 models" in out and "3-gram" in out and "mixed with" in out
    assert main(["--data", str(bands_csv), "--checkpoint", "missing.safetensors"]) == 2
    assert "no checkpoint" in capsys.readouterr().err
