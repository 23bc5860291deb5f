"""The MI-LSTM model looks its input projections up when the embeddings see no dropout:
the same predictions and gradients as multiplying every step's input by W."""

import torch

from generator.genres import TAGS
from generator.model import CharModel, ModelConfig
from generator.recurrence import TableLookup


def multiplied_out(model: CharModel, tokens, tags, lengths):
    """The model's forward pass with every step's embedded input multiplied by W."""
    embedded = model.embedding(tokens) + model.genre_embedding(tags)
    outputs, (h, c) = model.recurrent(embedded, None, lengths)
    return model.decoder(outputs), h, c


def batch(vocab_size=13, steps=7):
    tokens = torch.randint(0, vocab_size, (steps, 4))
    tags = (torch.rand(4, len(TAGS)) < 0.3).double()
    return tokens, tags, [7, 3, 7, 1]  # ragged, and not sorted longest first


def test_looked_up_inputs_match_multiplied_ones_in_float64():
    torch.manual_seed(3)
    model = CharModel(ModelConfig(13, embedding_size=5, hidden_size=6, genre_tags=TAGS))
    model = model.double()
    tokens, tags, lengths = batch()
    weights = torch.randn(7, 4, 13, dtype=torch.float64)

    def run(forward):
        logits, h, c = forward()
        for row, length in enumerate(lengths):
            logits[length:, row] = 0  # past a row's end the logits mean nothing
        loss = (logits * weights).sum() + h.sum() + (c * c).sum()
        return logits, torch.autograd.grad(loss, list(model.parameters()))

    def looked_up():
        logits, (h, c) = model(tokens, tags=tags, lengths=lengths)
        return logits, h, c

    fast_logits, fast_grads = run(looked_up)
    slow_logits, slow_grads = run(lambda: multiplied_out(model, tokens, tags, lengths))
    torch.testing.assert_close(fast_logits, slow_logits, rtol=1e-12, atol=1e-12)
    for name_and_parameter, fast, slow in zip(
        model.named_parameters(), fast_grads, slow_grads, strict=True
    ):
        assert fast.abs().sum() > 0, f"{name_and_parameter[0]} got no gradient"
        torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-12)


def test_table_gradient_adds_bfloat16_gradients_up_without_losing_them():
    """A common character is looked up at thousands of positions in a batch: added up step
    by step in bfloat16 (8 bits of mantissa), its gradient would stall near 512."""
    table = torch.zeros(3, 4, requires_grad=True)
    tokens = torch.ones(1500, 2, dtype=torch.long)  # character 1, 3,000 times
    projected = TableLookup.apply(table, tokens, None, torch.bfloat16)
    assert projected.dtype == torch.bfloat16
    step = torch.tensor(1.0078125, dtype=torch.bfloat16)  # exact in bfloat16
    projected.backward(torch.full_like(projected, step))
    assert table.grad.dtype == torch.float32
    # rounded once to bfloat16 at most
    torch.testing.assert_close(
        table.grad[1], torch.full((4,), 3000 * 1.0078125), rtol=2**-8, atol=0
    )
    assert table.grad[0].abs().sum() == 0 and table.grad[2].abs().sum() == 0


def test_embeddings_under_dropout_are_multiplied_out():
    """A dropout mask differs at every position, so no table holds W x_t then."""
    torch.manual_seed(5)
    model = CharModel(ModelConfig(13, embedding_size=5, hidden_size=6, dropout=0.5))
    tokens = torch.randint(0, 13, (6, 3))
    looked_up = []
    forward_tokens = model.recurrent.forward_tokens
    model.recurrent.forward_tokens = lambda *args: looked_up.append(1) or forward_tokens(*args)

    model.train()
    first, _ = model(tokens)
    second, _ = model(tokens)
    assert not looked_up
    assert not torch.allclose(first, second)  # other masks
    model.eval()
    torch.testing.assert_close(model(tokens)[0], model(tokens)[0])
    assert len(looked_up) == 2
