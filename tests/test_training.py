"""Training end to end on a small CSV: files written, interruption and exact resumption."""

import json
import os
import signal

import pytest
import torch

from generator import NameGenerator, trainer
from generator.checkpoint import load_checkpoint
from generator.errors import BandnameError
from generator.options import companion_paths
from generator.training import train
from tests.conftest import tiny_options


def test_a_run_writes_best_model_resume_state_and_history(tmp_path, bands_csv):
    out = tmp_path / "model.safetensors"
    result = train(tiny_options(bands_csv, out, epochs=2))
    resume_path, history_path = companion_paths(out)
    assert not result.interrupted and out.is_file() and resume_path.is_file()

    history = json.loads(history_path.read_text())
    assert [epoch["epoch"] for epoch in history["epochs"]] == [1, 2]
    assert len(history["steps"]) == history["epochs"][-1]["step"]
    best = min(epoch["validation_bits_per_char"] for epoch in history["epochs"])
    assert result.best_validation_bits_per_char == pytest.approx(best)

    training = load_checkpoint(out).training
    assert training["validation_bits_per_char"] == pytest.approx(best)
    assert len(training["data_sha256"]) == 64
    assert len(NameGenerator.load(out).generate(n=3, seed=0)) == 3


def test_learning_reduces_validation_bits(tmp_path, bands_csv):
    train(tiny_options(bands_csv, tmp_path / "m.safetensors", epochs=3, lr_decay=1.0))
    epochs = json.loads(companion_paths(tmp_path / "m.safetensors")[1].read_text())["epochs"]
    assert epochs[-1]["validation_bits_per_char"] < epochs[0]["validation_bits_per_char"] - 0.3


def test_the_lstm_cell_trains_through_torch_nn_lstm(tmp_path, bands_csv, monkeypatch):
    """`--cell lstm` is the comparison's baseline: PyTorch's own LSTM, not a copy of it."""
    calls = []
    original_forward = torch.nn.LSTM.forward

    def counted_forward(self, *args, **kwargs):
        calls.append(self)
        return original_forward(self, *args, **kwargs)

    monkeypatch.setattr(torch.nn.LSTM, "forward", counted_forward)
    out = tmp_path / "lstm.safetensors"
    train(tiny_options(bands_csv, out, cell="lstm", epochs=1))
    steps = json.loads(companion_paths(out)[1].read_text())["epochs"][0]["step"]
    assert len(calls) >= steps  # every training step, and validation after them
    model = load_checkpoint(out).build_model()
    assert isinstance(model.recurrent.lstm, torch.nn.LSTM)


def interrupt_at(step_number):
    """An after_step hook that presses Ctrl-C once the run has taken `step_number` steps."""

    def after_step(step):
        if step == step_number:
            os.kill(os.getpid(), signal.SIGINT)

    return after_step


REGULARIZED = dict(weight_drop=0.3, average_decay=0.9)


@pytest.mark.parametrize(
    "cell, extra",
    [
        ("milstm", {}),
        ("lstm", {}),
        ("milstm", REGULARIZED),
        ("lstm", REGULARIZED),
        ("milstm", {"ngram_targets": 0.3}),  # the resumed run computes its targets again
        ("milstm", {"layer_norm": True}),
    ],
    ids=[
        "milstm",
        "lstm",
        "milstm-averaged",
        "lstm-averaged",
        "milstm-ngram-targets",
        "milstm-layer-norm",
    ],  # fmt: skip
)
def test_interrupted_and_resumed_run_matches_an_uninterrupted_one(tmp_path, bands_csv, cell, extra):
    # dropout makes the resumed run depend on the saved random state too
    options = dict(epochs=2, dropout=0.2, cell=cell, **extra)
    straight = tmp_path / "straight.safetensors"
    train(tiny_options(bands_csv, straight, **options))

    broken = tmp_path / "broken.safetensors"
    steps_per_epoch = json.loads(companion_paths(straight)[1].read_text())["epochs"][0]["step"]
    interrupted = train(
        tiny_options(bands_csv, broken, **options),
        after_step=interrupt_at(steps_per_epoch // 2),  # mid-way through the first epoch
    )
    assert interrupted.interrupted and not broken.exists()
    assert load_checkpoint(interrupted.resume_path).state.progress["epoch"] == 1

    resumed = train(None, resume=interrupted.resume_path)
    assert not resumed.interrupted
    expected = load_checkpoint(companion_paths(straight)[0])
    actual = load_checkpoint(companion_paths(broken)[0])
    for name, tensor in expected.weights.items():
        assert torch.equal(actual.weights[name], tensor), name
    for name, tensor in (expected.state.average or {}).items():
        assert torch.equal(actual.state.average[name], tensor), name
    assert actual.state.progress == expected.state.progress


def test_more_epochs_can_be_added_by_resuming(tmp_path, bands_csv):
    out = tmp_path / "model.safetensors"
    first = train(tiny_options(bands_csv, out, epochs=1))
    train(None, resume=first.resume_path, resume_changes={"epochs": 2})
    history = json.loads(companion_paths(out)[1].read_text())
    assert [epoch["epoch"] for epoch in history["epochs"]] == [1, 2]


def test_a_diverging_run_stops_with_a_message_and_keeps_its_best_model(
    tmp_path, bands_csv, monkeypatch
):
    out = tmp_path / "model.safetensors"
    # one epoch first: how many steps it takes, and the model it saves
    train(tiny_options(bands_csv, out, epochs=1))
    steps_per_epoch = json.loads(companion_paths(out)[1].read_text())["epochs"][0]["step"]
    saved_after_epoch_1 = load_checkpoint(out).weights
    out.unlink()
    options = tiny_options(bands_csv, out, epochs=3)

    scored = 0

    def loss_turning_nan(model, batch, soft_targets, soft_weight):
        """The real loss, until the first training step of epoch 2, which gets a NaN"""
        nonlocal scored
        nats, objective = real_training_nats(model, batch, soft_targets, soft_weight)
        scored += 1
        if scored == steps_per_epoch + 1:
            return nats, objective * float("nan")
        return nats, objective

    real_training_nats = trainer.training_nats
    monkeypatch.setattr(trainer, "training_nats", loss_turning_nan)
    diverged = f"diverged at step {steps_per_epoch + 1} \\(epoch 2\\)"
    with pytest.raises(BandnameError, match=diverged):
        train(options)

    # what epoch 1 saved is still there, and no weight was stepped on a NaN
    kept = load_checkpoint(out)
    for name, weight in kept.weights.items():
        assert torch.isfinite(weight).all(), name
        torch.testing.assert_close(weight, saved_after_epoch_1[name])
    resumable = load_checkpoint(companion_paths(out)[0]).weights
    assert all(torch.isfinite(weight).all() for weight in resumable.values())


def test_ngram_targets_train_and_validate_on_the_true_symbols(tmp_path, bands_csv):
    out = tmp_path / "model.safetensors"
    plain = train(tiny_options(bands_csv, tmp_path / "plain.safetensors", epochs=1))
    smoothed = train(tiny_options(bands_csv, out, epochs=1, ngram_targets=0.3))
    # the soft targets change what is learned ...
    assert smoothed.best_validation_bits_per_char != plain.best_validation_bits_per_char
    # ... but train and validation figures stay bits/char of the true symbols: validation
    # agrees with scoring the saved model, which knows nothing of the n-gram
    generator = NameGenerator.load(out)
    history = json.loads(companion_paths(out)[1].read_text())
    assert history["epochs"][0]["validation_bits_per_char"] == pytest.approx(
        smoothed.best_validation_bits_per_char
    )
    assert load_checkpoint(out).training["options"]["ngram_targets"] == 0.3
    assert len(generator.generate(n=2, seed=0)) == 2


@pytest.mark.parametrize("weight", [-0.1, 1.0])
def test_an_ngram_weight_outside_its_range_is_refused(tmp_path, bands_csv, weight):
    with pytest.raises(BandnameError, match="--ngram-targets is a weight"):
        train(tiny_options(bands_csv, tmp_path / "m.safetensors", ngram_targets=weight))


def test_clip_gradients_scales_like_clip_grad_norm_and_only_when_over():
    torch.manual_seed(6)
    parameters = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
    for parameter in parameters:
        parameter.grad = torch.randn_like(parameter) * 10
    expected = [parameter.grad.clone() for parameter in parameters]
    reference = [torch.nn.Parameter(p.detach().clone()) for p in parameters]
    for parameter, gradient in zip(reference, expected, strict=True):
        parameter.grad = gradient.clone()
    torch.nn.utils.clip_grad_norm_(reference, 1.0)

    trainer.clip_gradients(parameters, 1.0)
    for parameter, clipped in zip(parameters, reference, strict=True):
        torch.testing.assert_close(parameter.grad, clipped.grad)
    total = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in parameters]))
    assert abs(total.item() - 1.0) < 1e-5

    small = [parameter.grad.clone() for parameter in parameters]
    trainer.clip_gradients(parameters, 2.0)  # under the bound: left exactly as they were
    for parameter, before in zip(parameters, small, strict=True):
        assert torch.equal(parameter.grad, before)
