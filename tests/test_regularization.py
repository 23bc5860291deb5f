"""Weight drop, the moving average of the weights, and a validation split kept across seeds."""

import json

import pytest
import torch
from torch import nn

from generator import NameGenerator
from generator.averaging import WeightAverage
from generator.evaluate import evaluate, training_split
from generator.model import CharModel, ModelConfig
from generator.names import load_names, split_names
from generator.options import TrainingOptions, companion_paths
from generator.training import train
from tests.conftest import tiny_options


def recurrent_weight(model: CharModel) -> torch.Tensor:
    recurrent = model.recurrent
    return (
        recurrent.recurrent_weight if model.config.cell == "milstm" else recurrent.lstm.weight_hh_l0
    )


@pytest.mark.parametrize("cell", ["milstm", "lstm"])
def test_weight_drop_masks_recurrent_weights_in_training_only(cell):
    torch.manual_seed(0)
    dropping = CharModel(ModelConfig(12, cell, 6, 32, weight_drop=0.3))
    plain = CharModel(ModelConfig(12, cell, 6, 32))
    plain.load_state_dict(dropping.state_dict())
    tokens = torch.randint(0, 12, (7, 4))

    dropping.train()
    first, _ = dropping(tokens)
    second, _ = dropping(tokens)
    assert not torch.allclose(first, second)  # a new mask every step

    first.sum().backward()
    dropped_share = (recurrent_weight(dropping).grad == 0).float().mean().item()
    assert 0.2 < dropped_share < 0.4  # dropped weights get no gradient in that step

    dropping.eval()
    plain.eval()
    assert torch.equal(dropping(tokens)[0], plain(tokens)[0])  # whole weights to predict


def test_weight_average_follows_the_weights_with_a_growing_memory():
    layer = nn.Linear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.fill_(0.0)
    average = WeightAverage(layer, decay=0.9)
    with torch.no_grad():
        layer.weight.fill_(1.0)
    average.update()  # first step: decay 2/11, so the new weights weigh 9/11
    assert average.state_dict()["weight"][0, 0].item() == pytest.approx(9 / 11)
    for _ in range(100):
        average.update()
    assert average.state_dict()["weight"][0, 0].item() == pytest.approx(1.0, abs=1e-4)


def test_applied_average_is_used_inside_the_block_and_undone_after():
    layer = nn.Linear(3, 2)
    average = WeightAverage(layer, decay=0.5)
    before = {name: p.detach().clone() for name, p in layer.named_parameters()}
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(1.0)
    average.update()
    own = {name: p.detach().clone() for name, p in layer.named_parameters()}
    with average.applied():
        for name, parameter in layer.named_parameters():
            assert torch.equal(parameter, average.state_dict()[name])
            assert not torch.equal(parameter, own[name]) and not torch.equal(
                parameter, before[name]
            )
    for name, parameter in layer.named_parameters():
        assert torch.equal(parameter, own[name])


def test_an_averaged_run_validates_and_ships_the_average(tmp_path, bands_csv):
    out = tmp_path / "averaged.safetensors"
    settings = dict(epochs=2, average_decay=0.9, weight_drop=0.2, genre_column="")
    train(tiny_options(bands_csv, out, **settings))
    epochs = json.loads(companion_paths(out)[1].read_text())["epochs"]
    assert all(e["raw_validation_bits_per_char"] != e["validation_bits_per_char"] for e in epochs)

    generator = NameGenerator.load(out)
    names = load_names(str(bands_csv), "name")
    shipped = evaluate(generator, training_split(generator, names).validation)["bits_per_char"]
    best = min(epochs, key=lambda e: e["validation_bits_per_char"])
    # the file holds the averaged weights (stored in float16), not the raw ones
    assert shipped == pytest.approx(best["validation_bits_per_char"], abs=1e-3)
    assert abs(shipped - best["raw_validation_bits_per_char"]) > 1e-3


def test_runs_with_other_seeds_hold_out_the_same_names(tmp_path, bands_csv):
    names = load_names(str(bands_csv), "name")
    splits = []
    for seed in (1, 2):
        out = tmp_path / f"seed{seed}.safetensors"
        train(tiny_options(bands_csv, out, epochs=1, seed=seed, split_seed=5))
        splits.append(training_split(NameGenerator.load(out), names).validation)
    assert splits[0] == splits[1] == split_names(names, 0.1, 5).validation
    assert splits[0] != split_names(names, 0.1, 1).validation


def test_checkpoints_from_before_split_seed_were_split_by_their_seed():
    saved = {"options": {"data": "bands.csv", "seed": 7}}
    assert TrainingOptions.saved_in(saved).split_seed == 7
    saved["options"]["split_seed"] = 2
    assert TrainingOptions.saved_in(saved).split_seed == 2
