"""The MI-LSTM cell's elementwise steps as compiled C (cell_kernels.c), called through ctypes.

The C source is compiled once per machine with the system's compiler (`cc`, or $CC) for the
processor it runs on, with OpenMP where the compiler has it, and kept in a cache folder
($BANDNAME_CACHE, else ~/.cache/bandname); that takes under a second. Where no compiler
works, or BANDNAME_FUSED_CELL=0 is set, `load()` returns None and the recurrence runs the
same steps as PyTorch operations instead: slower, never different in what it computes
beyond float32 rounding. We call plain C rather than a PyTorch C++ extension because the
extension builder needs ninja and takes about a minute to compile PyTorch's headers, for
two loops.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shlex
import subprocess
import tempfile
from pathlib import Path

import torch

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("cell_kernels.c")
FLAGS = ("-O3", "-march=native", "-ffast-math", "-fPIC", "-shared")
# shares a step's rows between threads; compilers without OpenMP build the file without it
OPENMP = "-fopenmp"
_POINTER = ctypes.c_void_p
_LONG = ctypes.c_long
# the long among the pointers says whether r is layer-normalized
_FORWARD_ARGUMENTS = [_LONG, _LONG] + [_POINTER] * 4 + [_LONG] + [_POINTER] * 3
_BACKWARD_ARGUMENTS = [_LONG, _LONG, _LONG] + [_POINTER] * 6 + [_LONG] + [_POINTER] * 6
_TRANSPOSE_ARGUMENTS = [_LONG] * 4 + [_POINTER] * 2
_SUFFIXES = {torch.float32: "f32", torch.bfloat16: "bf16"}


class FusedCell:
    """The compiled steps. Every tensor passed must be contiguous and on the CPU: the cell
    state and coefficients in float32, the product-side ones (P, r, h and their gradients)
    in the products' dtype, float32 or bfloat16.

    A step's rows are shared between threads with OpenMP, when the compiler has it. Built
    with the same soname, the library then uses the OpenMP runtime PyTorch has loaded, and
    so the very threads that just ran the step's matrix product and are still spinning
    for more: on two cores that made training 5% faster. Threads of our own (tried with
    Python threads) made it slower, fighting those spinning threads for the cores.
    """

    def __init__(self, library: ctypes.CDLL) -> None:
        self._forward = {}
        self._backward = {}
        for dtype, suffix in _SUFFIXES.items():
            forward = getattr(library, f"cell_forward_{suffix}")
            forward.argtypes, forward.restype = _FORWARD_ARGUMENTS, None
            backward = getattr(library, f"cell_backward_{suffix}")
            backward.argtypes, backward.restype = _BACKWARD_ARGUMENTS, None
            self._forward[dtype], self._backward[dtype] = forward, backward
        self._transpose = {}
        for dtype, suffix in _SUFFIXES.items():
            transpose = getattr(library, f"transpose_{suffix}")
            transpose.argtypes, transpose.restype = _TRANSPOSE_ARGUMENTS, None
            self._transpose[dtype] = transpose

    def supports(self, state_dtype: torch.dtype, product_dtype: torch.dtype) -> bool:
        return state_dtype == torch.float32 and product_dtype in _SUFFIXES

    def forward(self, P, coefficients, r, c_prev, cells, outputs, P_rows=None, normalize=False):  # noqa: N803
        """See generator.recurrence.TorchCellSteps.forward, which computes the same."""
        rows, hidden = cells.shape
        if P_rows is not None:
            # the C code reads rows where it is told: out of range, refuse rather than read
            # someone else's memory, as index_select would
            if P_rows.dtype != torch.int64:
                raise ValueError("the fused cell takes P_rows as int64")
            low, high = torch.aminmax(P_rows)
            if int(low) < 0 or int(high) >= P.shape[0]:
                raise IndexError(
                    f"P_rows must lie in [0, {P.shape[0]}), got {int(low)}..{int(high)}"
                )
        self._forward[outputs.dtype](
            rows, hidden, _address(P), _address(P_rows), _address(coefficients), _address(r),
            int(normalize), _address(c_prev), _address(cells), _address(outputs),
        )  # fmt: skip

    def backward(
        self, later_rows, grad_outputs, later, grad_final_h, P, coefficients, r, c_prev,  # noqa: N803
        cells, carry, grad_P, grad_coefficients, grad_r, normalize=False,  # noqa: N803
    ) -> None:  # fmt: skip
        """See generator.recurrence.TorchCellSteps.backward, which computes the same."""
        rows, hidden = carry.shape
        self._backward[grad_outputs.dtype](
            rows, hidden, later_rows, _address(grad_outputs), _address(later),
            _address(grad_final_h), _address(P), _address(coefficients), _address(r),
            int(normalize), _address(c_prev), _address(cells), _address(carry), _address(grad_P),
            _address(grad_coefficients), _address(grad_r),
        )  # fmt: skip

    def transpose(self, matrix: torch.Tensor) -> torch.Tensor:
        """matrix^T laid out contiguously, for a contiguous float32 or bfloat16 matrix: in
        tiles that stay in cache, a third (float32) to a half (bfloat16) of the time PyTorch's
        strided copy takes at hidden size 1024."""
        rows, columns = matrix.shape
        transposed = matrix.new_empty(columns, rows)
        self._transpose[matrix.dtype](
            rows, columns, 0, rows, _address(matrix), _address(transposed)
        )
        return transposed


def _address(tensor: torch.Tensor | None) -> int | None:
    if tensor is None:
        return None
    if not tensor.is_contiguous() or tensor.device.type != "cpu":
        raise ValueError("the fused cell takes contiguous CPU tensors")
    return tensor.data_ptr()


@functools.cache
def load() -> FusedCell | None:
    """The compiled steps, compiling them first if this machine has not yet; None if that
    cannot be done here (the caller then uses PyTorch operations)."""
    if os.environ.get("BANDNAME_FUSED_CELL", "1") == "0":
        return None
    try:
        return FusedCell(ctypes.CDLL(str(_compiled_library())))
    except (OSError, subprocess.SubprocessError, AttributeError) as error:
        log.info("the fused MI-LSTM cell is unavailable (%s); using PyTorch operations", error)
        return None


def _compiled_library() -> Path:
    compiler = shlex.split(os.environ.get("CC", "cc"))
    source = SOURCE.read_bytes()
    # -march=native builds for this processor only: the key keeps builds for different
    # processors apart when a home folder is shared between machines
    key = hashlib.sha256(
        b"\0".join([source, " ".join([*compiler, *FLAGS, OPENMP]).encode(), _processor().encode()])
    ).hexdigest()[:16]
    folder = Path(os.environ.get("BANDNAME_CACHE", Path.home() / ".cache" / "bandname"))
    library = folder / f"cell_kernels-{key}.so"
    if library.exists():
        return library

    folder.mkdir(parents=True, exist_ok=True)
    # built under a temporary name and renamed, so that processes started together
    # (torchrun) never load a half-written file
    handle, partial = tempfile.mkstemp(dir=folder, suffix=".so.partial")
    os.close(handle)
    try:
        try:
            _compile(compiler, [*FLAGS, OPENMP], partial)
        except subprocess.CalledProcessError:
            _compile(compiler, list(FLAGS), partial)
        os.replace(partial, library)
    finally:
        Path(partial).unlink(missing_ok=True)
    log.debug("compiled %s", library)
    return library


def _compile(compiler: list[str], flags: list[str], output: str) -> None:
    command = [*compiler, *flags, "-o", output, str(SOURCE), "-lm"]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


def _processor() -> str:
    """What -march=native depends on: the CPU's model and feature flags."""
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return platform.processor() or platform.machine()
    wanted = ("model name", "flags")
    return "\n".join(sorted({line for line in lines if line.startswith(wanted)}))
