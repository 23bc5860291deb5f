"""The MI-LSTM's time loop, pre_t = A_t * (U h_{t-1}) + B_t and the LSTM cell, as one
autograd function with a hand-written backward pass (see generator/milstm.py for the
equations).

Two things keep the loop short. Rows stop at their name's length: the batch comes sorted
by length, longest first, so at step t the names still going are the first n_t rows and
every product and elementwise pass works on those alone, with no arithmetic spent on
padding. And when the layer starts from the zero state, as in training, the first
recurrent product is skipped: U h_0 = 0, so pre_0 = B_0.

The elementwise work of a step, forward and back, runs in compiled C where it can
(generator/fused_cell.py), else as PyTorch operations (`TorchCellSteps`): the same
computation, which the tests check against each other and, in float64, against the
paper's equations.
"""

from __future__ import annotations

import torch

from generator import fused_cell
from generator.products import product_dtype, repeated_product


class TorchCellSteps:
    """A step's elementwise work as PyTorch operations, for any device and dtype."""

    @staticmethod
    def forward(A, B, r, c_prev, gates, cells, tanh_cells, outputs) -> None:  # noqa: N803
        """Gates (i, f, o, z after their nonlinearity), c, tanh(c) and h of one step's rows,
        written into the last four arguments. r = U h_{t-1}, or None when h_{t-1} = 0."""
        hidden = cells.shape[1]
        if r is None:
            gates.copy_(B)
        else:
            torch.addcmul(B, A, r, out=gates)
        gates[:, : 3 * hidden].sigmoid_()
        gates[:, 3 * hidden :].tanh_()
        input_gate, forget_gate, output_gate, block_input = gates.chunk(4, dim=1)
        torch.addcmul(input_gate * block_input, forget_gate, c_prev, out=cells)
        torch.tanh(cells, out=tanh_cells)
        outputs.copy_(output_gate * tanh_cells)

    @staticmethod
    def backward(
        later_rows, grad_outputs, later, grad_final_h, gates, c_prev, tanh_cells, A, r,  # noqa: N803
        carry, grad_pre, grad_A, grad_r,  # noqa: N803
    ) -> None:  # fmt: skip
        """One step back. dL/dh is grad_outputs plus `later` (dL/dh through the next step)
        for the first later_rows rows, plus grad_final_h for the rest, whose last step this
        is. carry holds dL/dc through the next step and becomes dL/dc_prev. Writes dL/dpre
        (= dL/dB), dL/dA and, when r is given, dL/dr."""
        grad_h = grad_outputs.to(gates.dtype, copy=True)
        if later_rows:
            grad_h[:later_rows] += later
        grad_h[later_rows:] += grad_final_h[later_rows:]
        input_gate, forget_gate, output_gate, block_input = gates.chunk(4, dim=1)
        grad_cell = carry + grad_h * output_gate * (1 - tanh_cells * tanh_cells)
        grad_i, grad_f, grad_o, grad_z = grad_pre.chunk(4, dim=1)
        torch.mul(grad_cell * block_input, input_gate * (1 - input_gate), out=grad_i)
        torch.mul(grad_cell * c_prev, forget_gate * (1 - forget_gate), out=grad_f)
        torch.mul(grad_h * tanh_cells, output_gate * (1 - output_gate), out=grad_o)
        torch.mul(grad_cell * input_gate, 1 - block_input * block_input, out=grad_z)
        torch.mul(grad_cell, forget_gate, out=carry)
        if r is None:
            grad_A.zero_()
        else:
            torch.mul(grad_pre, r, out=grad_A)
            grad_r.copy_(grad_pre * A)


def rows_per_step(lengths: list[int], steps: int) -> list[int]:
    """n_t, the number of rows still going at each step, for lengths sorted longest first."""
    rows = []
    going = len(lengths)
    for t in range(steps):
        while going and lengths[going - 1] <= t:
            going -= 1
        rows.append(going)
    return rows


class MultiplicativeRecurrence(torch.autograd.Function):
    """The MI-LSTM over a batch of sequences sorted by length, longest first.

    Shapes: A, B (T, N, 4H) with gates ordered i, f, o, z; U (4H, H); h0, c0 (N, H);
    lengths, a list of N ints in [1, T]. zero_start says h0 is all zeros and needs no
    gradient, so the products with it are skipped. Returns the outputs (T, N, H), zero
    past each row's length, and each row's last hidden and cell state (N, H).
    """

    @staticmethod
    def forward(ctx, A, B, U, h0, c0, lengths, zero_start):  # noqa: N803 - the paper's names
        dtype = product_dtype(A)
        # the matrix products pick their precision themselves, so autocast stays out
        with torch.autocast(A.device.type, enabled=False):
            return _forward(ctx, A, B, U, h0, c0, lengths, zero_start, dtype)

    @staticmethod
    def backward(ctx, grad_outputs, grad_final_h, grad_final_c):
        with torch.autocast(ctx.device_type, enabled=False):
            grads = _backward(ctx, grad_outputs, grad_final_h, grad_final_c)
        return (*grads, None, None)


def _cell_steps(state_dtype: torch.dtype, product_dtype: torch.dtype, device: torch.device):
    fused = fused_cell.load() if device.type == "cpu" else None
    if fused is not None and fused.supports(state_dtype, product_dtype):
        return fused
    return TorchCellSteps


def _forward(ctx, A, B, U, h0, c0, lengths, zero_start, product_dtype):  # noqa: N803
    steps, batch, four_hidden = A.shape
    hidden = four_hidden // 4
    A, B = A.contiguous(), B.contiguous()
    rows = rows_per_step(lengths, steps)
    cell = _cell_steps(A.dtype, product_dtype, A.device)
    times_U = repeated_product(U, product_dtype, batch)  # h -> U h

    # Tensors that only feed matrix products are kept in the products' precision, so that
    # bfloat16 runs convert nothing inside the loop; the cell state stays in A's dtype.
    h0 = h0.to(product_dtype).contiguous()
    c0 = c0.to(A.dtype).contiguous()
    outputs = A.new_empty(steps, batch, hidden, dtype=product_dtype)  # h_1 .. h_T
    gates = A.new_empty(steps, batch, four_hidden)  # i, f, o, z after their nonlinearity
    cells = A.new_empty(steps, batch, hidden)  # c_1 .. c_T
    tanh_cells = A.new_empty(steps, batch, hidden)
    recurrent = []  # U h_{t-1} of each step's rows; None where h_{t-1} = 0

    for t, n in enumerate(rows):
        h_prev = h0[:n] if t == 0 else outputs[t - 1, :n]
        c_prev = c0[:n] if t == 0 else cells[t - 1, :n]
        r = None if t == 0 and zero_start else times_U(h_prev).contiguous()
        cell.forward(A[t, :n], B[t, :n], r, c_prev, gates[t, :n], cells[t, :n],
                     tanh_cells[t, :n], outputs[t, :n])  # fmt: skip
        outputs[t, n:] = 0
        recurrent.append(r)

    last = torch.tensor(lengths, device=A.device) - 1
    every_row = torch.arange(batch, device=A.device)
    final_h, final_c = outputs[last, every_row], cells[last, every_row]

    ctx.save_for_backward(A, U, h0, c0, gates, cells, tanh_cells, outputs)
    ctx.recurrent, ctx.rows, ctx.lengths = recurrent, rows, (last, every_row)
    ctx.device_type = A.device.type
    return outputs, final_h, final_c


def _backward(ctx, grad_outputs, grad_final_h, grad_final_c):
    A, U, h0, c0, gates, cells, tanh_cells, outputs = ctx.saved_tensors
    recurrent, rows = ctx.recurrent, ctx.rows
    steps, batch, four_hidden = A.shape
    product_dtype = outputs.dtype
    cell = _cell_steps(A.dtype, product_dtype, A.device)
    times_U_t = repeated_product(U.t().contiguous(), product_dtype, batch)  # g -> U^T g

    grad_outputs = grad_outputs.to(product_dtype).contiguous()
    grad_final_h = grad_final_h.to(product_dtype).contiguous()
    carry = grad_final_c.to(A.dtype).clone()  # dL/dc_t through c_{t+1}
    grad_A = torch.empty_like(A)
    grad_pre = torch.empty_like(A)  # dL/dpre_t, which is dL/dB_t
    # dL/d(U h_{t-1}) of the steps that had a product, packed one step after the other
    with_product = [t for t in range(steps) if recurrent[t] is not None]
    grad_recurrent = A.new_empty(sum(rows[t] for t in with_product), four_hidden,
                                 dtype=product_dtype)  # fmt: skip
    offsets = dict(zip(with_product, _running_sum([rows[t] for t in with_product]), strict=True))
    later, later_rows = None, 0  # dL/dh_t through step t + 1, for the rows that have one

    for t in reversed(range(steps)):
        n = rows[t]
        c_prev = c0[:n] if t == 0 else cells[t - 1, :n]
        r = recurrent[t]
        grad_r = None if r is None else grad_recurrent[offsets[t] : offsets[t] + n]
        cell.backward(later_rows, grad_outputs[t, :n], later, grad_final_h[:n], gates[t, :n],
                      c_prev, tanh_cells[t, :n], A[t, :n], r, carry[:n], grad_pre[t, :n],
                      grad_A[t, :n], grad_r)  # fmt: skip
        grad_A[t, n:] = 0
        grad_pre[t, n:] = 0
        later = None if r is None else times_U_t(grad_r).contiguous()
        later_rows = n

    # dU = sum over steps of dL/d(U h_{t-1})^T h_{t-1}, in one product over the packed rows
    previous = [h0[: rows[t]] if t == 0 else outputs[t - 1, : rows[t]] for t in with_product]
    grad_U = torch.zeros_like(U)
    if previous:
        grad_U = torch.mm(grad_recurrent.t(), torch.cat(previous)).to(U.dtype)
    # with a zero start h0 was made inside the layer and needs no gradient
    grad_h0 = None if later is None else later.to(c0.dtype)
    return grad_A, grad_pre, grad_U, grad_h0, carry


def _running_sum(counts: list[int]) -> list[int]:
    """Where each of a sequence of blocks of these sizes starts, one after the other."""
    starts, total = [], 0
    for count in counts:
        starts.append(total)
        total += count
    return starts
