"""The compiled cell steps compute what the PyTorch steps compute, and their absence is harmless."""

import copy

import pytest
import torch

from generator import fused_cell
from generator.milstm import MILSTM
from generator.products import repeated_product

LENGTHS = [9, 9, 7, 4, 4, 1]


def run_layer(layer, inputs, state, autocast_dtype=None):
    """Outputs, final state and every gradient of a loss that touches all of them."""
    inputs = inputs.clone().requires_grad_()
    state = tuple(part.clone().requires_grad_() for part in state) if state else None
    enabled = autocast_dtype is not None
    with torch.autocast("cpu", dtype=autocast_dtype or torch.bfloat16, enabled=enabled):
        outputs, (h, c) = layer(inputs, state, LENGTHS)
    weights = torch.linspace(-1, 1, outputs.numel()).view_as(outputs)
    loss = (outputs.float() * weights).sum() + h.float().sum() * 0.3 + (c * c).sum()
    leaves = [inputs, *(state or ()), *layer.parameters()]
    return [outputs.float(), h.float(), c, *torch.autograd.grad(loss, leaves)]


@pytest.fixture
def compiled():
    cell = fused_cell.load()
    if cell is None:
        pytest.skip("no C compiler here: the fused cell cannot be built")
    return cell


def without_fused_cell(monkeypatch):
    monkeypatch.setattr(fused_cell, "load", lambda: None)


@pytest.mark.parametrize("layer_norm", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_fused_float32_steps_match_pytorch_steps(compiled, monkeypatch, with_state, layer_norm):
    torch.manual_seed(0)
    layer = MILSTM(5, 24, layer_norm=layer_norm)
    inputs = torch.randn(9, len(LENGTHS), 5)
    state = (torch.randn(6, 24), torch.randn(6, 24)) if with_state else None

    fused = run_layer(layer, inputs, state)
    without_fused_cell(monkeypatch)
    reference = run_layer(layer, inputs, state)

    # Layer normalization divides U h by its spread, small here where h starts small: the
    # compiled cell's float32 rounding (its tanh is formed from one exponential) then
    # grows with it, to 1e-6 of the outputs against float64 where PyTorch's steps stay
    # near 1e-7; gradients differ by up to 1e-5 of their largest entry. Both are float32
    # rounding; test_milstm checks each path against float64.
    for got, expected in zip(fused, reference, strict=True):
        if layer_norm:
            scale = max(1.0, expected.abs().max().item())
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=3e-5 * scale)
        else:
            torch.testing.assert_close(got, expected, rtol=2e-5, atol=2e-5)


def test_saturated_gates_stay_finite(compiled, monkeypatch):
    """Pre-activations past +-88 overflow exp in float32: the gates must still come out
    0, 1 or -1, as in PyTorch, and never NaN (a long training run met this)."""
    torch.manual_seed(2)
    layer = MILSTM(5, 24)
    with torch.no_grad():
        layer.input_weight.mul_(400.0)  # |W x| in the hundreds
    inputs = torch.randn(9, len(LENGTHS), 5)

    fused = run_layer(layer, inputs, None)
    assert all(torch.isfinite(tensor).all() for tensor in fused)
    without_fused_cell(monkeypatch)
    pytorch = run_layer(layer, inputs, None)
    exact = run_layer(copy.deepcopy(layer).double(), inputs.double(), None)

    # Near saturation 1 - sigmoid keeps few of float32's digits, in PyTorch's kernels and in
    # ours, and how few depends on the processor's exp: on a Sapphire Rapids the fused
    # steps missed the float64 result by up to 7 times what PyTorch's float32 steps did
    # (1e-4 of the gradients' size). Held to the float64 result, not to PyTorch's.
    for got, reference, truth in zip(fused, pytorch, exact, strict=True):
        pytorch_error = (reference.double() - truth).abs().max()
        allowed = 10 * pytorch_error + 1e-5 * truth.abs().max()
        assert (got.double() - truth).abs().max() <= allowed


def test_forward_reads_input_rows_from_a_table_where_told(compiled):
    torch.manual_seed(6)
    hidden = 8
    table = torch.randn(5, 4 * hidden)  # P of five symbols
    coefficients = torch.randn(4, 4 * hidden)
    rows = torch.tensor([3, 0, 3, 4])
    r, c_prev = torch.randn(4, 4 * hidden), torch.randn(4, hidden)
    looked_up = [torch.empty(4, hidden), torch.empty(4, hidden)]
    copied = [torch.empty(4, hidden), torch.empty(4, hidden)]
    compiled.forward(table, coefficients, r, c_prev, *looked_up, P_rows=rows)
    compiled.forward(table[rows].contiguous(), coefficients, r, c_prev, *copied)
    for got, expected in zip(looked_up, copied, strict=True):
        assert torch.equal(got, expected)
    with pytest.raises(IndexError):
        compiled.forward(
            table, coefficients, r, c_prev, *looked_up, P_rows=torch.tensor([0, 1, 2, 5])
        )


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_transpose(compiled, dtype):
    matrix = torch.randn(70, 45).to(dtype)  # tiles of 32 that do not fit evenly
    assert torch.equal(compiled.transpose(matrix), matrix.t())


@pytest.mark.parametrize("layer_norm", [False, True])
def test_fused_bfloat16_steps_match_pytorch_steps(compiled, monkeypatch, layer_norm):
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no bfloat16 products")
    torch.manual_seed(1)
    layer = MILSTM(5, 32, layer_norm=layer_norm)
    inputs = torch.randn(9, len(LENGTHS), 5)

    fused = run_layer(layer, inputs, None, torch.bfloat16)
    without_fused_cell(monkeypatch)
    reference = run_layer(layer, inputs, None, torch.bfloat16)

    # both round the same products to bfloat16; they differ only in float32 rounding
    # before that, which bfloat16's 8 bits sometimes turn into one step of its own (and
    # layer normalization enlarges, as in the float32 test above)
    for got, expected in zip(fused, reference, strict=True):
        scale = max(1.0, expected.abs().max().item()) if layer_norm else 1.0
        torch.testing.assert_close(got, expected, rtol=2e-2, atol=2e-2 * scale)


def test_the_layer_falls_back_when_no_compiler_works(tmp_path, monkeypatch):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    monkeypatch.setenv("BANDNAME_CACHE", str(tmp_path / "cache"))
    fused_cell.load.cache_clear()
    try:
        assert fused_cell.load() is None
        torch.manual_seed(2)
        layer = MILSTM(3, 8)
        outputs, _ = layer(torch.randn(4, 2, 3))
        assert outputs.shape == (4, 2, 8) and torch.isfinite(outputs).all()
    finally:
        fused_cell.load.cache_clear()


def test_a_compiler_without_openmp_still_builds_the_fused_cell(compiled, tmp_path, monkeypatch):
    """The kernels then run on one thread and compute the same."""
    compiler = tmp_path / "cc-without-openmp"
    compiler.write_text(
        '#!/bin/sh\nfor a in "$@"; do [ "$a" = -fopenmp ] && exit 1; done\nexec cc "$@"\n'
    )
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    monkeypatch.setenv("BANDNAME_CACHE", str(tmp_path / "cache"))
    torch.manual_seed(5)
    layer = MILSTM(5, 24)
    inputs = torch.randn(9, len(LENGTHS), 5)
    with_openmp = run_layer(layer, inputs, None)
    fused_cell.load.cache_clear()
    try:
        single_threaded = fused_cell.load()
        assert single_threaded is not None and single_threaded is not compiled
        assert list((tmp_path / "cache").glob("*.so"))  # built by the compiler given
        without_openmp = run_layer(layer, inputs, None)
    finally:
        fused_cell.load.cache_clear()
    for got, expected in zip(without_openmp, with_openmp, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)


def test_a_compiled_library_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("BANDNAME_CACHE", str(tmp_path))
    fused_cell.load.cache_clear()
    try:
        if fused_cell.load() is None:
            pytest.skip("no C compiler here: the fused cell cannot be built")
        built = list(tmp_path.glob("*.so"))
        fused_cell.load.cache_clear()
        assert fused_cell.load() is not None
        assert list(tmp_path.glob("*.so")) == built and len(built) == 1
        assert not list(tmp_path.glob("*.partial"))
    finally:
        fused_cell.load.cache_clear()


def test_repeated_product_serves_fewer_rows_than_it_was_laid_out_for():
    """Rows leave the batch as names end; the weight is laid out once for the full batch."""
    torch.manual_seed(3)
    weight = torch.randn(40, 16)
    product = repeated_product(weight, torch.float32, 8)
    for rows in (8, 5, 1):
        x = torch.randn(rows, 16)
        torch.testing.assert_close(product(x), x @ weight.t(), rtol=1e-4, atol=1e-4)
