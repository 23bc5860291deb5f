"""The fast MI-LSTM computes exactly the equations of Wu et al. 2016, Appendix A."""

import copy

import pytest
import torch

from generator.milstm import MILSTM
from generator.recurrence import InputProjection, MILSTMFunction, TableLookup


def literal_milstm(layer: MILSTM, inputs: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
    """The paper's equations gate by gate, with a separate W_k and U_k for every gate k;
    with layer normalization, U h is first normalized over all four gates' values."""
    hidden = layer.hidden_size

    def gate_slice(tensor, k):
        return tensor[k * hidden : (k + 1) * hidden]

    outputs = []
    for x in inputs:
        pre = []
        uh_all = torch.cat([h @ gate_slice(layer.recurrent_weight, k).t() for k in range(4)], 1)
        if layer.layer_norm:
            mean = uh_all.mean(1, keepdim=True)
            variance = ((uh_all - mean) ** 2).mean(1, keepdim=True)
            uh_all = (uh_all - mean) / torch.sqrt(variance + 1e-5)
        for k in range(4):  # i, f, o, z
            wx = x @ gate_slice(layer.input_weight, k).t()
            uh = uh_all[:, k * hidden : (k + 1) * hidden]
            pre.append(
                gate_slice(layer.alpha, k) * wx * uh
                + gate_slice(layer.beta1, k) * uh
                + gate_slice(layer.beta2, k) * wx
                + gate_slice(layer.bias, k)
            )
        input_gate, forget_gate, output_gate = (torch.sigmoid(p) for p in pre[:3])
        block_input = torch.tanh(pre[3])
        c = forget_gate * c + input_gate * block_input
        h = output_gate * torch.tanh(c)
        outputs.append(h)
    return torch.stack(outputs), (h, c)


def random_layer(input_size=5, hidden_size=7, seed=0, layer_norm=False) -> MILSTM:
    torch.manual_seed(seed)
    layer = MILSTM(input_size, hidden_size, layer_norm=layer_norm).double()
    with torch.no_grad():  # move every parameter off its tidy initial value
        for parameter in layer.parameters():
            parameter.normal_(0, 0.5)
    return layer


@pytest.mark.parametrize("layer_norm", [False, True])
def test_forward_and_gradients_match_the_literal_equations(layer_norm):
    layer = random_layer(layer_norm=layer_norm)
    inputs = torch.randn(6, 3, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(6, 3, 7, dtype=torch.float64)  # a loss that weighs every output

    def run(function):
        outputs, (h, c) = function(inputs, h0, c0)
        loss = (outputs * weights).sum() + (h * 0.3).sum() + (c * c).sum()
        leaves = [inputs, h0, c0, *layer.parameters()]
        return outputs, torch.autograd.grad(loss, leaves)

    fast_outputs, fast_grads = run(lambda x, h, c: layer(x, (h, c)))
    literal_outputs, literal_grads = run(lambda x, h, c: literal_milstm(layer, x, h, c))

    torch.testing.assert_close(fast_outputs, literal_outputs, rtol=1e-12, atol=1e-12)
    for fast, literal in zip(fast_grads, literal_grads, strict=True):
        torch.testing.assert_close(fast, literal, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("zero_start", [False, True])
def test_layer_function_passes_gradcheck(zero_start, layer_norm):
    torch.manual_seed(1)
    steps, batch, embedding, hidden = 4, 3, 2, 3

    def tensor(*shape, grad=True):
        return torch.randn(*shape, dtype=torch.float64, requires_grad=grad)

    h0 = torch.zeros(batch, hidden, dtype=torch.float64) if zero_start else tensor(batch, hidden)
    arguments = (
        tensor(steps, batch, embedding),
        tensor(4 * hidden, embedding),
        *(tensor(4 * hidden) for _ in range(4)),  # alpha, beta1, beta2, bias
        tensor(4 * hidden, hidden),
        h0,
        tensor(batch, hidden),
        [4, 2, 1],  # rows stop at their lengths
        zero_start,
        layer_norm,
    )

    def layer_function(inputs, W, *rest):  # noqa: N803
        return MILSTMFunction.apply(InputProjection.apply(inputs, W), *rest)

    assert torch.autograd.gradcheck(layer_function, arguments)


@pytest.mark.parametrize("with_row_terms", [False, True])
def test_table_lookup_passes_gradcheck(with_row_terms):
    torch.manual_seed(2)
    table = torch.randn(5, 6, dtype=torch.float64, requires_grad=True)
    tokens = torch.tensor([[0, 3, 3], [3, 1, 4]])  # repeated tokens add up their gradients
    row_terms = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    arguments = (table, tokens, row_terms if with_row_terms else None, torch.float64)
    assert torch.autograd.gradcheck(TableLookup.apply, arguments)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_rows_stop_at_their_lengths_in_any_order(layer_norm):
    """Each row equals the equations run on its own sequence alone; padding stays zero."""
    layer = random_layer(layer_norm=layer_norm)
    lengths = [3, 6, 1, 6]
    inputs = torch.randn(6, 4, 5, dtype=torch.float64, requires_grad=True)
    outputs, (h, c) = layer(inputs, lengths=lengths)
    (outputs.sum() + h.sum() * 0.5 + (c * c).sum()).backward()

    for row, length in enumerate(lengths):
        alone = inputs.detach()[:length, row : row + 1].clone().requires_grad_()
        zeros = torch.zeros(1, 7, dtype=torch.float64)
        literal, (h_row, c_row) = literal_milstm(layer, alone, zeros, zeros)
        (literal.sum() + h_row.sum() * 0.5 + (c_row * c_row).sum()).backward()
        torch.testing.assert_close(outputs[:length, row], literal[:, 0])
        assert torch.count_nonzero(outputs[length:, row]) == 0
        torch.testing.assert_close(h[row], h_row[0])
        torch.testing.assert_close(c[row], c_row[0])
        torch.testing.assert_close(inputs.grad[:length, row], alone.grad[:, 0])
        assert torch.count_nonzero(inputs.grad[length:, row]) == 0


def test_state_carries_over_between_calls():
    layer = random_layer()
    inputs = torch.randn(8, 2, 5, dtype=torch.float64)
    whole, _ = layer(inputs)
    first, state = layer(inputs[:3])
    second, _ = layer(inputs[3:], state)
    torch.testing.assert_close(torch.cat([first, second]), whole)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_float32_fast_path_matches_the_equations_in_float64(layer_norm):
    """In float32 the CPU path multiplies through oneDNN and forms tanh from a sigmoid."""
    layer = random_layer(input_size=6, hidden_size=16, layer_norm=layer_norm)
    fast_layer = copy.deepcopy(layer).float()
    inputs = torch.randn(9, 4, 6, dtype=torch.float64)
    weights = torch.randn(9, 4, 16, dtype=torch.float64)

    def run(forward, module, dtype):
        x = inputs.to(dtype).requires_grad_()
        outputs = forward(x)
        loss = (outputs * weights.to(dtype)).sum()
        return outputs, torch.autograd.grad(loss, [x, *module.parameters()])

    zeros = torch.zeros(4, 16, dtype=torch.float64)
    literal_outputs, literal_grads = run(
        lambda x: literal_milstm(layer, x, zeros, zeros)[0], layer, torch.float64
    )
    fast_outputs, fast_grads = run(lambda x: fast_layer(x)[0], fast_layer, torch.float32)

    torch.testing.assert_close(fast_outputs.double(), literal_outputs, rtol=1e-4, atol=1e-5)
    for fast, literal in zip(fast_grads, literal_grads, strict=True):
        torch.testing.assert_close(fast.double(), literal, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("layer_norm", [False, True])
def test_bfloat16_path_stays_within_bfloat16_precision_of_float32(layer_norm):
    """Under bfloat16 autocast P, h, the recurrent products and their gradients are held in
    bfloat16, and dU is one product over the steps' rows padded with zero rows: the results
    stay those of float32 to bfloat16's 8 bits, ended rows included."""
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no bfloat16 products")
    layer = random_layer(input_size=6, hidden_size=16, layer_norm=layer_norm).float()
    inputs = torch.randn(9, 4, 6)
    weights = torch.randn(9, 4, 16)
    lengths = [9, 7, 7, 3]  # 22 rows with a recurrent product, not a multiple of 64

    def run(precision):
        x = inputs.clone().requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
            outputs, (h, c) = layer(x, None, lengths)
        loss = (outputs.float() * weights).sum() + h.float().sum() + c.sum()
        return [outputs.float(), *torch.autograd.grad(loss, [x, *layer.parameters()])]

    for half, full in zip(run("bf16"), run("fp32"), strict=True):
        scale = full.abs().max().item()
        torch.testing.assert_close(half, full, rtol=0.05, atol=0.02 * scale)
