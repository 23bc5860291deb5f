"""Held-out n-gram targets come from models that never saw the name they predict, and
training mixes them into its targets as told."""

from __future__ import annotations

import pytest
import torch

from generator.batches import collate
from generator.model import CharModel, ModelConfig
from generator.ngram import KneserNeyModel
from generator.scoring import batch_nats, training_nats
from generator.soft_targets import heldout_ngram_targets, stack_targets
from generator.vocab import END, Vocabulary

NAMES = [
    "Morbid Angel", "Morbid Throne", "Dark Angel", "Dark Funeral", "Death Angel",
    "Grave Digger", "Grave Wound", "Carnal Wound", "Carnal Decay", "Mortal Decay",
    "Xqzjvk",  # spelled like no other name: only a model fitted on it could predict it
]  # fmt: skip


def test_each_name_is_predicted_by_a_model_of_the_other_folds() -> None:
    vocabulary = Vocabulary.build(NAMES)
    targets = heldout_ngram_targets(NAMES, vocabulary, order=3, folds=3)
    for index, name in enumerate(NAMES):
        others = [other for place, other in enumerate(NAMES) if place % 3 != index % 3]
        expected = KneserNeyModel.fit(others, vocabulary, 3).distributions(name)
        torch.testing.assert_close(
            targets[index], torch.tensor(expected, dtype=torch.float16), rtol=0, atol=0
        )


def test_a_name_gets_no_credit_from_itself() -> None:
    vocabulary = Vocabulary.build(NAMES)
    odd_one = NAMES.index("Xqzjvk")
    held_out = heldout_ngram_targets(NAMES, vocabulary, order=3, folds=3)[odd_one].float()
    seen = torch.tensor(KneserNeyModel.fit(NAMES, vocabulary, 3).distributions("Xqzjvk"))
    symbols = vocabulary.encode("Xqzjvk") + [END]
    steps = torch.arange(len(symbols))
    # fitted on the name itself, the n-gram would all but spell it out
    assert (held_out[steps, symbols] < seen[steps, symbols]).all()
    assert held_out.sum(dim=1).sub(1).abs().max() < 2e-3  # float16 rows still sum to one


def test_targets_depend_only_on_the_names() -> None:
    vocabulary = Vocabulary.build(NAMES)
    first = heldout_ngram_targets(NAMES, vocabulary, order=2, folds=2)
    second = heldout_ngram_targets(NAMES, vocabulary, order=2, folds=2)
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_one_fold_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2 folds"):
        heldout_ngram_targets(NAMES, Vocabulary.build(NAMES), folds=1)


def test_stacked_targets_are_time_major_and_zero_past_each_end() -> None:
    short, long = torch.full((2, 4), 0.25), torch.full((5, 4), 0.5)
    stacked = stack_targets([short.half(), long.half()], steps=6)
    assert stacked.shape == (6, 2, 4) and stacked.dtype == torch.float32
    assert torch.equal(stacked[:2, 0], short) and stacked[2:, 0].eq(0).all()
    assert torch.equal(stacked[:5, 1], long) and stacked[5:, 1].eq(0).all()


def test_the_training_objective_mixes_true_and_soft_targets() -> None:
    torch.manual_seed(0)
    model = CharModel(ModelConfig(vocab_size=9, embedding_size=4, hidden_size=8))
    batch = collate([[4, 5, 6, 7], [8, 4]])
    steps = batch.targets.shape[0]
    rows = [torch.rand(5, 9).softmax(1).half(), torch.rand(3, 9).softmax(1).half()]
    soft = stack_targets(rows, steps)

    nats, objective = training_nats(model, batch, soft, 0.25)
    log_p = torch.log_softmax(model(batch.inputs, lengths=batch.lengths)[0], dim=-1)
    for column, length in enumerate(batch.lengths):
        true = -sum(log_p[t, column, batch.targets[t, column]] for t in range(length))
        expected_soft = -(soft[:length, column] * log_p[:length, column]).sum()
        assert nats[column].item() == pytest.approx(true.item(), rel=1e-5)
        assert objective[column].item() == pytest.approx(
            (0.75 * true + 0.25 * expected_soft).item(), rel=1e-5
        )
    torch.testing.assert_close(nats, batch_nats(model, batch))
    plain_nats, plain_objective = training_nats(model, batch, None, 0.25)
    torch.testing.assert_close(plain_nats, nats)
    assert plain_objective is plain_nats  # without soft targets, nothing else is minimized
