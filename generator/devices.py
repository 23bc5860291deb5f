"""Choosing where training runs and in what precision, with clear words when it cannot."""

from __future__ import annotations

import contextlib

import torch

from generator.errors import BandnameError

DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "bf16")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BandnameError("--device cuda was asked for, but PyTorch sees no CUDA GPU here")
    if name not in DEVICES:
        raise BandnameError(f"unknown device {name!r}; choose one of {', '.join(DEVICES)}")
    return torch.device(name)


def check_precision(precision: str, device: torch.device) -> None:
    """Raise BandnameError when `precision` cannot run fast on `device`."""
    if precision not in PRECISIONS:
        raise BandnameError(f"unknown precision {precision!r}; choose {', '.join(PRECISIONS)}")
    if precision == "fp32":
        return
    if device.type == "cuda":
        supported = torch.cuda.is_bf16_supported()
    else:
        # without AVX-512 BF16 or AMX, bfloat16 matrix products are emulated and slower than fp32
        supported = (
            torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    if not supported:
        raise BandnameError(
            f"--precision bf16 needs hardware bfloat16 support, which this {device.type} lacks; "
            "use --precision fp32"
        )


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast region for a forward pass in `precision` (a no-op for fp32)."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
