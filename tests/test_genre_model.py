"""A genre-aware model: tags reach the network, sampling and scoring honour them."""

import subprocess
import sys

import pytest
import torch

from generator import NameGenerator
from generator.batches import tag_matrix
from generator.genres import TAGS
from generator.model import CharModel, ModelConfig
from generator.stepper import Stepper
from generator.vocab import NEVER_SAMPLED
from tests.conftest import REPO_ROOT, tiny_options


def test_tags_change_the_predictions_and_no_tags_is_the_zero_vector():
    torch.manual_seed(0)
    model = CharModel(ModelConfig(vocab_size=12, embedding_size=6, hidden_size=8, genre_tags=TAGS))
    model.eval()
    tokens = torch.randint(4, 12, (5, 2))
    brutal = tag_matrix([frozenset({"brutal"}), frozenset({"brutal"})], TAGS)
    plain, _ = model(tokens)
    tagged, _ = model(tokens, tags=brutal)
    zeros, _ = model(tokens, tags=torch.zeros(2, len(TAGS)))
    assert not torch.allclose(plain, tagged)
    torch.testing.assert_close(plain, zeros)


@pytest.mark.parametrize("cell", ["milstm", "lstm"])
def test_the_stepper_in_a_genre_matches_the_model_given_that_tag(cell):
    torch.manual_seed(1)
    config = ModelConfig(20, cell, embedding_size=6, hidden_size=10, genre_tags=TAGS)
    model = CharModel(config).eval()
    tokens = torch.randint(4, 20, (6, 3))
    expected, _ = model(tokens, tags=tag_matrix([frozenset({"doom"})] * 3, TAGS))

    stepper = Stepper(model, dtype=torch.float32)
    tables = stepper.gate_tables(["doom"])
    state = stepper.initial_state(3)
    written = [symbol for symbol in range(20) if symbol not in NEVER_SAMPLED]
    for t in range(tokens.shape[0]):
        logits, state = stepper.step(tokens[t], state, tables)
        torch.testing.assert_close(logits[:, written], expected[t][:, written])


def test_generate_in_a_genre(tiny_checkpoint):
    generator = NameGenerator.load(tiny_checkpoint)
    assert generator.genres == TAGS
    names = generator.generate(n=6, prime="Rot", genre="Brutal", seed=3)
    assert len(names) == 6 and all(name.startswith("Rot") for name in names)
    mixed = generator.generate_many(
        [generator_request(2, "doom"), generator_request(3, None), generator_request(2, "grind")]
    )
    assert [len(names) for names in mixed] == [2, 3, 2]


def generator_request(n, genre):
    from generator import GenerationRequest

    return GenerationRequest(n=n, genre=genre)


def test_a_model_without_genres_refuses_one(tmp_path, bands_csv):
    from generator.training import train

    out = tmp_path / "plain.safetensors"
    train(tiny_options(bands_csv, out, epochs=1, genre_column=""))
    generator = NameGenerator.load(out)
    assert generator.genres == ()
    with pytest.raises(ValueError, match="trained without genre tags"):
        generator.generate(n=2, genre="doom")


def run(*arguments):
    return subprocess.run(
        [sys.executable, "-m", *arguments],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_command_line_genres(tiny_checkpoint):
    listed = run("generator", "--checkpoint", str(tiny_checkpoint), "--list-genres")
    assert listed.stdout.split() == list(TAGS)
    names = run("generator", "--checkpoint", str(tiny_checkpoint), "--genre", "thrash", "-n", "4")
    assert names.returncode == 0 and len(names.stdout.splitlines()) == 4
    refused = run("generator", "--checkpoint", str(tiny_checkpoint), "--genre", "polka")
    assert refused.returncode == 2 and "choose one of: brutal" in refused.stderr
    assert "Traceback" not in refused.stderr
