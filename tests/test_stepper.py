"""The sampling stepper's folded per-character tables give the model's own next-character logits."""

import math

import pytest
import torch

from generator import NameGenerator, stepper
from generator.model import CharModel, ModelConfig
from generator.products import int8_products
from generator.stepper import Stepper, fast_dtype
from generator.vocab import END, NEVER_SAMPLED, START

# the stepper's logits rule out the symbols never written; compare the others
WRITTEN = [symbol for symbol in range(30) if symbol not in NEVER_SAMPLED]


@pytest.mark.parametrize("cell,layer_norm", [("milstm", False), ("milstm", True), ("lstm", False)])
def test_stepper_matches_the_model_step_by_step(cell, layer_norm):
    torch.manual_seed(0)
    config = ModelConfig(20, cell, embedding_size=6, hidden_size=12, layer_norm=layer_norm)
    model = CharModel(config)
    model.eval()
    tokens = torch.randint(0, 20, (7, 3))  # (T, N)
    expected, _ = model(tokens)

    stepper = Stepper(model, dtype=torch.float32)
    state = stepper.initial_state(3)
    for t in range(tokens.shape[0]):
        logits, state = stepper.step(tokens[t], state)
        torch.testing.assert_close(
            logits[:, WRITTEN[:17]], expected[t][:, WRITTEN[:17]], rtol=1e-5, atol=1e-5
        )
        assert torch.isneginf(logits[:, list(NEVER_SAMPLED)]).all()


INT8 = pytest.param(
    torch.int8,
    marks=pytest.mark.skipif(not int8_products(), reason="no int8 product kernels here"),
)


@pytest.mark.parametrize("dtype", [torch.bfloat16, INT8], ids=["bfloat16", "int8"])
def test_reduced_precision_products_stay_close_to_float32(dtype):
    torch.manual_seed(1)
    model = CharModel(ModelConfig(vocab_size=30, embedding_size=8, hidden_size=64)).eval()
    tokens = torch.randint(0, 30, (5, 4))
    expected, _ = model(tokens)
    stepper = Stepper(model, dtype=dtype)
    state = stepper.initial_state(4)
    for t in range(tokens.shape[0]):
        logits, state = stepper.step(tokens[t], state)
    probabilities = torch.softmax(logits[:, WRITTEN], dim=1)
    expected_probabilities = torch.softmax(expected[-1][:, WRITTEN], dim=1)
    torch.testing.assert_close(probabilities, expected_probabilities, atol=0.01, rtol=0)


@pytest.mark.parametrize("rows", [8, 40])  # on CPUs with AMX, 40 rows multiply in bfloat16
@pytest.mark.parametrize("dtype", [torch.bfloat16, INT8], ids=["bfloat16", "int8"])
def test_reduced_precision_logits_stay_close_to_float32_in_narrow_and_wide_steps(dtype, rows):
    torch.manual_seed(8)
    model = CharModel(ModelConfig(vocab_size=30, embedding_size=8, hidden_size=64)).eval()
    with torch.no_grad():  # weights that give logits of some size
        for parameter in model.parameters():
            parameter.normal_(0, 0.3)
    tokens = torch.randint(0, 30, (4, rows))
    exact, reduced = Stepper(model, torch.float32), Stepper(model, dtype)
    exact_state, reduced_state = exact.initial_state(rows), reduced.initial_state(rows)
    for t in range(tokens.shape[0]):
        exact_logits, exact_state = exact.step(tokens[t], exact_state)
        logits, reduced_state = reduced.step(tokens[t], reduced_state)
        # measured: bfloat16 within 0.5% of the largest logit, int8 within 5.3% (8-bit
        # hidden states of a net with large weights); wide products half again too large fail
        scale = exact_logits[:, WRITTEN].abs().max().item()
        torch.testing.assert_close(
            logits[:, WRITTEN], exact_logits[:, WRITTEN], rtol=0, atol=0.08 * scale
        )


@pytest.mark.parametrize("genre", [None, "doom"])
def test_first_symbol_states_are_the_states_after_start_and_that_symbol(genre):
    torch.manual_seed(2)
    config = ModelConfig(vocab_size=20, embedding_size=6, hidden_size=12, genre_tags=("doom",))
    stepper = Stepper(CharModel(config).eval(), dtype=torch.float32)
    hidden, cell = stepper.first_symbol_states(genre)
    assert hidden.shape == cell.shape == (20, 12)
    tables = stepper.gate_tables([genre])
    start_hidden, start_cell, _ = stepper.start_state(genre)
    for symbol in (4, 11, 19):
        _, (expected_hidden, expected_cell) = stepper.step(
            torch.tensor([symbol]), (start_hidden[None], start_cell[None]), tables
        )
        torch.testing.assert_close(hidden[symbol], expected_hidden[0])
        torch.testing.assert_close(cell[symbol], expected_cell[0])


def bits_per_char_through(stepper, names, vocabulary) -> float:
    """What the stepper's own next-symbol probabilities make of these names."""
    total, symbols = 0.0, 0
    for name in names:
        ids = vocabulary.encode(name)
        inputs, targets = [START, *ids], [*ids, END]
        state = stepper.initial_state(1)
        for symbol, target in zip(inputs, targets, strict=True):
            logits, state = stepper.step(torch.tensor([symbol]), state)
            total -= torch.log_softmax(logits[0], dim=0)[target].item()
            symbols += 1
    return total / symbols / math.log(2)


@pytest.mark.skipif(not int8_products(), reason="no int8 product kernels here")
def test_the_shipped_model_predicts_as_well_through_int8_products():
    generator = NameGenerator.load()
    names = ["Cadaveric Throne", "Rotting Chasm", "Necrotic Dawn", "Grave Hymn", "Vomitoria"]
    with torch.inference_mode():
        exact = bits_per_char_through(
            Stepper(generator.model, torch.float32), names, generator.vocabulary
        )
        quantized = bits_per_char_through(
            Stepper(generator.model, torch.int8), names, generator.vocabulary
        )
    assert abs(quantized - exact) < 0.005


def test_without_int8_kernels_sampling_uses_bfloat16_or_float32(monkeypatch):
    monkeypatch.setattr(stepper, "int8_products", lambda: False)
    chosen = fast_dtype(torch.device("cpu"))
    bf16 = torch.ops.mkldnn._is_mkldnn_bf16_supported()
    assert chosen == (torch.bfloat16 if bf16 else torch.float32)


def test_stepper_nats_are_the_models_own_over_the_symbols_the_sampler_writes():
    from generator.batches import collate
    from generator.scoring import stepper_nats
    from generator.vocab import Vocabulary

    torch.manual_seed(6)
    vocabulary = Vocabulary.build(["Gorgon", "Abyss", "Nox"])
    model = CharModel(ModelConfig(len(vocabulary), embedding_size=6, hidden_size=12)).eval()
    names = ["Gorgon Abyss", "Nox", "Sabnox"]
    got = stepper_nats(Stepper(model, torch.float32), vocabulary, names)

    for name, nats in zip(names, got, strict=True):
        batch = collate([vocabulary.encode(name)])
        logits, _ = model(batch.inputs)
        logits[:, :, list(NEVER_SAMPLED)] = float("-inf")  # as the sampler does
        log_p = torch.log_softmax(logits[:, 0].double(), dim=1)
        expected = -log_p.gather(1, batch.targets[:, :1]).sum().item()
        assert nats == pytest.approx(expected, rel=1e-5)
