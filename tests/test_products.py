"""The recurrence's products give what plain matrix products give, whichever kernel runs."""

import pytest
import torch

from generator.products import linear, repeated_product

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
