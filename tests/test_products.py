"""The recurrence's products give what plain matrix products give, whichever kernel runs."""

import pytest
import torch

from generator.products import (
    by_rows,
    int8_products,
    linear,
    padded_rows,
    quantized_product,
    repeated_product,
)

DTYPES = [torch.float32]
if torch.ops.mkldnn._is_mkldnn_bf16_supported():
    DTYPES.append(torch.bfloat16)
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 3e-2}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [None, 5])
def test_repeated_product_multiplies_by_the_transposed_weight(dtype, batch):
    torch.manual_seed(0)
    weight = torch.randn(12, 8)
    product = repeated_product(weight, dtype, batch)
    for _ in range(3):  # the packed weight serves every call
        x = torch.randn(5, 8)
        result = product(x)
        assert result.dtype == dtype and result.shape == (5, 12)
        torch.testing.assert_close(
            result.float(), x @ weight.t(), rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * 8
        )


def test_repeated_product_takes_a_transposed_view():
    torch.manual_seed(1)
    weight = torch.randn(12, 8)
    x = torch.randn(5, 12)
    product = repeated_product(weight.t(), torch.float32, 5)
    torch.testing.assert_close(product(x), x @ weight, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", DTYPES)
def test_linear_reads_a_transposed_input_as_it_lies(dtype):
    torch.manual_seed(2)
    a = torch.randn(30, 12)  # the product wanted is a^T b
    b = torch.randn(30, 7)
    result = linear(a.t(), b.t(), dtype)
    assert result.dtype == dtype
    torch.testing.assert_close(
        result.float(), a.t() @ b, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * 30
    )


def test_linear_keeps_float64_exact():
    torch.manual_seed(3)
    x = torch.randn(4, 6, dtype=torch.float64)
    weight = torch.randn(3, 6, dtype=torch.float64)
    torch.testing.assert_close(linear(x, weight), x @ weight.t(), rtol=1e-15, atol=1e-15)


needs_int8 = pytest.mark.skipif(not int8_products(), reason="no int8 product kernels here")


@needs_int8
def test_quantized_product_multiplies_by_the_transposed_weight_to_about_one_percent():
    torch.manual_seed(4)
    weight = torch.randn(64, 32) * torch.linspace(0.01, 2.0, 64).unsqueeze(1)  # rows of any size
    x = torch.rand(9, 32) * 2 - 1  # hidden states lie in (-1, 1)
    result = quantized_product(weight)(x)
    expected = x @ weight.t()
    assert result.dtype == torch.float32 and result.shape == (9, 64)
    # each output row has its own scale, so small rows are as exact as large ones
    relative = (result - expected).norm(dim=0) / expected.norm(dim=0)
    assert relative.max() < 0.03


@needs_int8
def test_a_rows_quantized_product_does_not_depend_on_the_other_rows():
    torch.manual_seed(5)
    product = quantized_product(torch.randn(16, 8))
    row = torch.rand(1, 8) * 0.2 - 0.1  # a row of small values, rounded on their own...
    others = torch.rand(6, 8) * 2 - 1  # ...and with rows that span the whole range
    alone = product(row)
    together = product(torch.cat([others, row]))
    assert torch.equal(together[-1:], alone)


def test_int8_products_are_off_where_the_quantized_engine_is_not_x86(monkeypatch):
    monkeypatch.setattr(torch.backends.quantized, "engine", "qnnpack", raising=False)
    int8_products.cache_clear()
    try:
        assert int8_products() is False
    finally:
        int8_products.cache_clear()


def test_padded_rows_give_each_row_its_own_product_and_the_inner_one_whole_blocks():
    torch.manual_seed(7)
    weight = torch.randn(12, 5)
    seen = []

    def product(x):
        seen.append(x.shape[0])
        return x @ weight.t()

    padded = padded_rows(product, 8)
    for rows in (1, 8, 13):
        x = torch.randn(rows, 5)
        torch.testing.assert_close(padded(x), x @ weight.t())
    assert seen == [8, 8, 16]


def test_by_rows_sends_few_rows_one_way_and_many_the_other_in_float32():
    few = lambda x: torch.zeros(x.shape[0], 2)  # noqa: E731
    many = lambda x: torch.ones(x.shape[0], 2, dtype=torch.bfloat16)  # noqa: E731
    product = by_rows(few, many, threshold=4)
    assert product(torch.empty(3, 5)).sum() == 0
    wide = product(torch.empty(4, 5))
    assert wide.dtype == torch.float32 and wide.sum() == 8
