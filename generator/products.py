"""The recurrence's matrix products, through oneDNN on the CPU.

PyTorch hands float32 products on the CPU to MKL, which takes slow paths on AMD processors;
oneDNN, which torch.nn.LSTM uses on the CPU, does not. oneDNN can also lay a weight out once
for its kernels (PyTorch does so when it freezes models for CPU inference), and every
product after that skips the repacking a plain product does each call: the recurrence
multiplies by the same matrix at every step, forward and backward. Measured on two cores of
AMD EPYCs, float32, hidden size 1024, batch 64:

                                          torch.mm   MKL packed   oneDNN packed
    Zen 5, (64, 1024) x (1024, 4096), a step     3.8 ms       4.0           1.4
    Zen 5, (4096, 2816) x (2816, 1024), once     127           -            67
    Zen 4, (64, 1024) x (1024, 4096), a step     5.0           -             2.95

Builds without oneDNN fall back to MKL's packed product, then to plain products.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable

import torch

Product = Callable[[torch.Tensor], torch.Tensor]

_ONEDNN = (
    torch.backends.mkldnn.is_available()
    and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    and hasattr(torch.ops.mkldnn, "_linear_pointwise")
)
_MKL = torch.backends.mkl.is_available() and hasattr(torch.ops.mkl, "_mkl_linear")


def repeated_product(weight: torch.Tensor, dtype: torch.dtype, batch: int | None = None) -> Product:
    """A function x -> x weight^T in `dtype`, for a weight that stays fixed while it is used.

    `batch` is the number of rows x will have, when it is known: oneDNN picks a layout for
    it (a third faster at batch 64 than a layout for any batch). Laying the weight out
    costs about one product, so this pays from the second call on.
    """
    weight = weight.detach()
    if weight.device.type == "cpu" and _ONEDNN and dtype in _onednn_dtypes():
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.to(dtype), batch)
        return lambda x: torch.ops.mkldnn._linear_pointwise(
            x.to(dtype), packed, None, "none", [], ""
        )
    if weight.device.type == "cpu" and _MKL and dtype == torch.float32 and batch is not None:
        weight = weight.float().contiguous()
        packed = torch.ops.mkl._mkl_reorder_linear_weight(weight, batch)
        return lambda x: torch.ops.mkl._mkl_linear(x.float(), packed, weight, None, batch)
    weight_t = weight.t().to(dtype).contiguous()
    return lambda x: x.to(dtype) @ weight_t


def linear(x: torch.Tensor, weight: torch.Tensor, dtype: torch.dtype | None = None) -> torch.Tensor:
    """x @ weight^T in `dtype` (x's by default), for a weight used once.

    x may be a transposed view: oneDNN reads it as it lies, faster than PyTorch copies it.
    """
    dtype = dtype or x.dtype
    if x.device.type == "cpu" and _ONEDNN and dtype in _onednn_dtypes():
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.to(dtype))
        return torch.ops.mkldnn._linear_pointwise(x.to(dtype), packed, None, "none", [], "")
    return x.to(dtype) @ weight.t().to(dtype)


def quantized_product(weight: torch.Tensor, bound: float = 1.0) -> Product:
    """A function x -> x weight^T (float32 in, float32 out) for x in [-bound, bound], with
    the weight held in int8, one scale per output, and x rounded to 8 bits on the fly.

    For sampling on the CPU: PyTorch's dynamically quantized linear kernels (those of
    torch.ao.quantization.quantize_dynamic) run these products one and a half to two times
    as fast as bfloat16 ones on CPUs without AMX, and the shipped model predicts as well
    through them (tests/test_stepper.py checks). Check `int8_products()` first.

    The kernels round x over the range of the whole batch. A last row holding -bound and
    +bound, whose result is dropped, pins that range, so each row's result depends on that
    row alone, as with any other product: hidden states lie in (-1, 1) by construction.
    """
    weight = weight.detach().float().contiguous()
    scales = (weight.abs().amax(dim=1) / 127).clamp(min=1e-12).double()
    with warnings.catch_warnings():
        # PyTorch now deprecates making quantized tensors by hand in favour of the torchao
        # package; these kernels are still PyTorch's own, and int8_products() turns them
        # off where they are gone
        warnings.filterwarnings(
            "ignore", message=".*quantized tensor creation", category=UserWarning
        )
        quantized = torch.quantize_per_channel(
            weight, scales, torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8
        )
        packed = torch.ops.quantized.linear_prepack(quantized, None)
    anchor = torch.zeros(1, weight.shape[1])
    anchor[0, 0], anchor[0, -1] = -bound, bound

    def product(x: torch.Tensor) -> torch.Tensor:
        pinned = torch.cat([x.float(), anchor])
        # reduce_range: 7-bit activations, which no CPU's int8 instructions can overflow
        return torch.ops.quantized.linear_dynamic(pinned, packed, True)[:-1]

    return product


@functools.cache
def int8_products() -> bool:
    """Whether `quantized_product` works here: x86 builds of PyTorch that still have it."""
    if torch.backends.quantized.engine not in ("x86", "fbgemm"):
        return False
    try:
        weight = torch.tensor([[1.0, -2.0], [0.5, 0.25]])
        result = quantized_product(weight)(torch.tensor([[1.0, 1.0]]))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return torch.allclose(result, torch.tensor([[-1.0, 0.75]]), atol=0.05)


@functools.cache
def amx_products() -> bool:
    """Whether this CPU has AMX matrix units that oneDNN's bfloat16 products run on."""
    has_tiles = getattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    return bool(has_tiles()) and torch.ops.mkldnn._is_mkldnn_bf16_supported()


def padded_rows(product: Product, multiple: int) -> Product:
    """`product` with x's rows padded with zeros to a multiple of `multiple`.

    oneDNN compiles kernels for every row count a bfloat16 product meets (about 5 ms each,
    then kept): a sampler whose batch shrinks one row at a time would meet a new one at
    almost every step of its first calls. Padded, it meets a few.
    """

    def padded(x: torch.Tensor) -> torch.Tensor:
        rows = x.shape[0]
        extra = -rows % multiple
        if extra == 0:
            return product(x)
        return product(torch.cat([x, x.new_zeros(extra, x.shape[1])]))[:rows]

    return padded


def by_rows(few: Product, many: Product, threshold: int) -> Product:
    """x -> few(x) for fewer than `threshold` rows, else many(x), as float32."""
    return lambda x: few(x) if x.shape[0] < threshold else many(x).float()


def product_dtype(tensor: torch.Tensor) -> torch.dtype:
    """bfloat16 inside an autocast region asking for it, else the tensor's dtype."""
    device_type = tensor.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return tensor.dtype


def _onednn_dtypes() -> tuple[torch.dtype, ...]:
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return (torch.float32, torch.bfloat16)
    return (torch.float32,)
