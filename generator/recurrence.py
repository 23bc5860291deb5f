"""The MI-LSTM layer over a batch of sequences, as one autograd function with a hand-written
backward pass (the equations are in generator/milstm.py).

Recording a dozen small operations per step with autograd costs more than the arithmetic at
the batch sizes we train with, so the whole layer is one function. It starts from the
input projections P = W x of all steps, formed beforehand in one matrix product
(`InputProjection`) or, when the inputs are undropped embeddings, looked up in a table of
W e per character (`TableLookup`). Then per step it runs one recurrent product and one
elementwise pass, which forms A = alpha P + beta1 and B = beta2 P + b on the fly. The
backward pass mirrors it and adds up the gradients of alpha, beta1, beta2 and b as it goes,
so that what is left for W and x is the gradient of P, handled by the function that made P.

Two more things keep the loop short. Rows stop at their name's length: the batch comes
sorted by length, longest first, so at step t the names still going are the first n_t
rows, and every product and elementwise pass works on those alone. And when the layer
starts from the zero state, as in training, the first recurrent product is skipped:
U h_0 = 0, so pre_0 = B_0.

The elementwise passes run in compiled C where they can (generator/fused_cell.py), else as
PyTorch operations (`TorchCellSteps`, any device and dtype): the same computation, which
the tests check against each other and, in float64, against the paper's equations.
"""

from __future__ import annotations

import torch

from generator import fused_cell
from generator.products import linear, product_dtype, repeated_product

ALPHA, BETA1, BETA2, BIAS = range(4)  # rows of the stacked coefficient vectors
SHAPE_STEP = 64  # bfloat16 products' row counts are rounded up to a multiple of this
NORM_EPSILON = 1e-5  # added to the variance in layer normalization, as in the C cell


class TorchCellSteps:
    """A step's elementwise work as PyTorch operations, for any device and dtype."""

    @staticmethod
    def normalized(r):
        """r layer-normalized over each row, and 1 / sqrt(var + eps) per row (rows, 1)."""
        r = r.to(torch.promote_types(r.dtype, torch.float32))  # bfloat16 r in float32
        variance, mean = torch.var_mean(r, dim=1, correction=0, keepdim=True)
        inverse_deviation = torch.rsqrt(variance + NORM_EPSILON)
        return (r - mean) * inverse_deviation, inverse_deviation

    @staticmethod
    def gates(P, coefficients, r) -> torch.Tensor:  # noqa: N803
        """i, f, o, z after their nonlinearities, (rows, 4H). P = W x_t; coefficients
        (4, 4H) stacks alpha, beta1, beta2 and b; r = U h_{t-1} (normalized, with layer
        normalization), or None when h_{t-1} = 0."""
        alpha, beta1, beta2, bias = coefficients
        hidden = P.shape[1] // 4
        gates = torch.addcmul(bias, beta2, P)
        if r is not None:
            gates.addcmul_(torch.addcmul(beta1, alpha, P), r)
        gates[:, : 3 * hidden].sigmoid_()
        gates[:, 3 * hidden :].tanh_()
        return gates

    @staticmethod
    def forward(P, coefficients, r, c_prev, cells, outputs, P_rows=None, normalize=False):  # noqa: N803
        """c and h of one step's rows, written into `cells` and `outputs`. With `P_rows`,
        P is a table and row n's input projection is its row P_rows[n]. With `normalize`,
        r is layer-normalized first."""
        if P_rows is not None:
            P = P.index_select(0, P_rows)  # noqa: N806
        if r is not None and normalize:
            r, _ = TorchCellSteps.normalized(r)
        gates = TorchCellSteps.gates(P, coefficients, r)
        input_gate, forget_gate, output_gate, block_input = gates.chunk(4, dim=1)
        torch.addcmul(input_gate * block_input, forget_gate, c_prev, out=cells)
        outputs.copy_(output_gate * torch.tanh(cells))

    @staticmethod
    def backward(
        later_rows, grad_outputs, later, grad_final_h, P, coefficients, r, c_prev, cells,  # noqa: N803
        carry, grad_P, grad_coefficients, grad_r, normalize=False,  # noqa: N803
    ) -> None:  # fmt: skip
        """One step back, forming the step's gates again. dL/dh is grad_outputs plus
        `later` (dL/dh through the next step) for the first later_rows rows, plus
        grad_final_h for the rest, whose last step this is. carry holds dL/dc through the
        next step and becomes dL/dc_prev. Writes dL/dP and, when r is given, dL/dr; adds
        this step's share to grad_coefficients."""
        alpha, beta1, beta2, _ = coefficients
        if r is not None and normalize:
            r, inverse_deviation = TorchCellSteps.normalized(r)
        grad_h = grad_outputs.to(P.dtype, copy=True)
        if later_rows:
            grad_h[:later_rows] += later
        grad_h[later_rows:] += grad_final_h[later_rows:]
        gates = TorchCellSteps.gates(P, coefficients, r)
        input_gate, forget_gate, output_gate, block_input = gates.chunk(4, dim=1)
        tanh_cells = torch.tanh(cells)
        grad_cell = carry + grad_h * output_gate * (1 - tanh_cells * tanh_cells)
        grad_pre = torch.cat(
            [
                grad_cell * block_input * input_gate * (1 - input_gate),
                grad_cell * c_prev * forget_gate * (1 - forget_gate),
                grad_h * tanh_cells * output_gate * (1 - output_gate),
                grad_cell * input_gate * (1 - block_input * block_input),
            ],
            dim=1,
        )
        torch.mul(grad_cell, forget_gate, out=carry)
        # pre = A r + B: dA = dpre r, dB = dpre, dr = dpre A
        grad_P_float = grad_pre * beta2
        grad_coefficients[BETA2] += (grad_pre * P).sum(0)
        grad_coefficients[BIAS] += grad_pre.sum(0)
        if r is not None:
            grad_A = grad_pre * r
            grad_P_float.addcmul_(grad_A, alpha)
            grad_coefficients[ALPHA] += (grad_A * P).sum(0)
            grad_coefficients[BETA1] += grad_A.sum(0)
            grad_normalized = grad_pre * torch.addcmul(beta1, alpha, P)
            if normalize:  # back through n = (r - mean) / deviation
                projection = (grad_normalized * r).mean(1, keepdim=True)
                grad_normalized = grad_normalized - grad_normalized.mean(1, keepdim=True)
                grad_normalized = (grad_normalized - r * projection) * inverse_deviation
            grad_r.copy_(grad_normalized)
        grad_P.copy_(grad_P_float)


def rows_per_step(lengths: list[int], steps: int) -> list[int]:
    """n_t, the number of rows still going at each step, for lengths sorted longest first."""
    rows = []
    going = len(lengths)
    for t in range(steps):
        while going and lengths[going - 1] <= t:
            going -= 1
        rows.append(going)
    return rows


class InputProjection(torch.autograd.Function):
    """P = W x_t of every step in one product: inputs (T, N, E), W (4H, E) -> (T, N, 4H),
    in the products' precision (bfloat16 inside an autocast region asking for it)."""

    @staticmethod
    def forward(ctx, inputs, W):  # noqa: N803
        dtype = product_dtype(inputs)
        ctx.save_for_backward(inputs, W)
        with torch.autocast(inputs.device.type, enabled=False):
            return linear(inputs, W, dtype).contiguous()

    @staticmethod
    def backward(ctx, grad_projected):
        inputs, W = ctx.saved_tensors  # noqa: N806
        dtype = grad_projected.dtype
        with torch.autocast(inputs.device.type, enabled=False):
            # P = x W^T: dW = dP^T x, dx = dP W, in the products' precision. dW is formed
            # transposed, x^T dP, which the matrix library runs faster than dP^T x with its
            # tall transposed factor
            flat_grad = grad_projected.reshape(-1, grad_projected.shape[-1])
            flat_inputs = inputs.reshape(-1, inputs.shape[-1]).to(dtype)
            grad_W = torch.mm(flat_inputs.t(), flat_grad).t().contiguous().to(W.dtype)
            grad_inputs = linear(flat_grad, W.t(), dtype).view(inputs.shape).to(inputs.dtype)
        return grad_inputs, grad_W


class TableLookup(torch.autograd.Function):
    """P[t, n] = table[tokens[t, n]] + row_terms[n], in `dtype`: the input projections of
    inputs that are rows of an embedding (plus one vector per row), looked up in the table of
    W e for every embedding e instead of multiplied out step by step.

    Shapes: table (V, 4H), tokens (T, N), row_terms (N, 4H) or None. Both are converted to
    `dtype` before the lookup, so a bfloat16 run gathers and adds half the bytes. The
    gradient of a table row adds up every position that looked it up, thousands for a
    common character: PyTorch adds bfloat16 rows up in float32 and rounds once, as a
    bfloat16 product does (tests/test_model_inputs.py checks it).
    """

    @staticmethod
    def forward(ctx, table, tokens, row_terms, dtype):
        projected = table.to(dtype).index_select(0, tokens.reshape(-1))
        projected = projected.view(*tokens.shape, table.shape[1])
        if row_terms is not None:
            projected += row_terms.to(dtype)
        ctx.save_for_backward(tokens)
        ctx.table_shape, ctx.table_dtype = table.shape, table.dtype
        ctx.has_row_terms = row_terms is not None
        return projected

    @staticmethod
    def backward(ctx, grad_projected):
        (tokens,) = ctx.saved_tensors
        flat_grad = grad_projected.reshape(-1, ctx.table_shape[1])
        grad_table = flat_grad.new_zeros(ctx.table_shape)
        grad_table.index_add_(0, tokens.reshape(-1), flat_grad)
        grad_row_terms = grad_projected.sum(0).to(ctx.table_dtype) if ctx.has_row_terms else None
        return grad_table.to(ctx.table_dtype), None, grad_row_terms, None


class MILSTMFunction(torch.autograd.Function):
    """The MI-LSTM over a batch of sequences sorted by length, longest first, from the input
    projections P = W x_t of every step (`InputProjection`, `TableLookup`).

    Shapes: projected (T, N, 4H) and U (4H, H) with gates stacked i, f, o, z; alpha,
    beta1, beta2, bias (4H,); h0, c0 (N, H); lengths, N ints in [1, T]. zero_start says h0
    is all zeros and needs no gradient, so the products with it are skipped; normalize,
    that U h_{t-1} is layer-normalized. Returns the outputs (T, N, H), zero past each row's
    length, and each row's last hidden and cell state (N, H).
    """

    @staticmethod
    def forward(  # noqa: N803
        ctx, projected, alpha, beta1, beta2, bias, U, h0, c0, lengths, zero_start, normalize
    ):
        dtype = product_dtype(projected)
        # the matrix products pick their precision themselves, so autocast stays out
        with torch.autocast(projected.device.type, enabled=False):
            coefficients = torch.stack([alpha, beta1, beta2, bias])
            projected = projected.to(dtype).contiguous()
            ctx.normalize = normalize
            return _forward(ctx, projected, coefficients, U, h0, c0, lengths, zero_start)

    @staticmethod
    def backward(ctx, grad_outputs, grad_final_h, grad_final_c):
        with torch.autocast(ctx.device_type, enabled=False):
            grad_projected, grad_coefficients, grad_U, grad_h0, grad_c0 = _backward(
                ctx, grad_outputs, grad_final_h, grad_final_c
            )
        return (grad_projected, *grad_coefficients, grad_U, grad_h0, grad_c0, None, None, None)


def cell_steps(state_dtype: torch.dtype, product_dtype: torch.dtype, device: torch.device):
    """The fused cell steps where they can run, else `TorchCellSteps`."""
    fused = fused_cell.load() if device.type == "cpu" else None
    if fused is not None and fused.supports(state_dtype, product_dtype):
        return fused
    return TorchCellSteps


def _transposed(matrix: torch.Tensor) -> torch.Tensor:
    fused = fused_cell.load() if matrix.device.type == "cpu" else None
    if fused is not None and matrix.dtype in (torch.float32, torch.bfloat16):
        return fused.transpose(matrix.contiguous())
    return matrix.t().contiguous()


def _forward(ctx, projected, coefficients, U, h0, c0, lengths, zero_start):  # noqa: N803
    steps, batch, _ = projected.shape
    four_hidden, hidden = U.shape
    state_dtype, product_dtype = coefficients.dtype, projected.dtype
    rows = rows_per_step(lengths, steps)
    cell = cell_steps(state_dtype, product_dtype, projected.device)
    # U in the products' precision, converted once a pass: the backward pass lays out its
    # transpose from this copy, half the bytes of float32 U in bfloat16 runs
    product_U = U.detach().to(product_dtype)
    times_U = repeated_product(product_U, product_dtype, batch)  # h -> U h

    # Tensors that come out of or only feed matrix products are kept in the products'
    # precision, so that bfloat16 runs convert nothing inside the loop and move half the
    # bytes; the cell state stays in float32, and the cell computes in float32.
    h0 = h0.to(product_dtype).contiguous()
    c0 = c0.to(state_dtype).contiguous()
    outputs = projected.new_empty(steps, batch, hidden, dtype=product_dtype)  # h_1 .. h_T
    cells = projected.new_empty(steps, batch, hidden, dtype=state_dtype)  # c_1 .. c_T
    recurrent = []  # U h_{t-1} of each step's rows; None where h_{t-1} = 0

    for t, n in enumerate(rows):
        h_prev = h0[:n] if t == 0 else outputs[t - 1, :n]
        c_prev = c0[:n] if t == 0 else cells[t - 1, :n]
        r = None if t == 0 and zero_start else times_U(h_prev).contiguous()
        cell.forward(projected[t, :n], coefficients, r, c_prev, cells[t, :n], outputs[t, :n],
                     normalize=ctx.normalize)  # fmt: skip
        outputs[t, n:] = 0
        recurrent.append(r)

    last = torch.tensor(lengths, device=projected.device) - 1
    every_row = torch.arange(batch, device=projected.device)
    final_h, final_c = outputs[last, every_row], cells[last, every_row]

    ctx.save_for_backward(coefficients, product_U, h0, c0, projected, cells, outputs)
    ctx.recurrent, ctx.rows, ctx.device_type = recurrent, rows, projected.device.type
    ctx.weight_dtype = U.dtype
    return outputs, final_h, final_c


def _backward(ctx, grad_outputs, grad_final_h, grad_final_c):
    coefficients, product_U, h0, c0, projected, cells, outputs = ctx.saved_tensors
    recurrent, rows = ctx.recurrent, ctx.rows
    steps, batch, four_hidden = projected.shape
    product_dtype = outputs.dtype
    cell = cell_steps(coefficients.dtype, product_dtype, projected.device)
    times_U_t = repeated_product(_transposed(product_U), product_dtype, batch)  # g -> U^T g

    grad_outputs = grad_outputs.to(product_dtype).contiguous()
    grad_final_h = grad_final_h.to(product_dtype).contiguous()
    carry = grad_final_c.to(coefficients.dtype).clone()  # dL/dc_t through c_{t+1}
    grad_projected = torch.empty_like(projected)
    grad_coefficients = torch.zeros_like(coefficients)
    # dL/d(U h_{t-1}) of the steps that had a product, packed one step after the other
    with_product = [t for t in range(steps) if recurrent[t] is not None]
    starts = dict(zip(with_product, _running_sum([rows[t] for t in with_product]), strict=True))
    packed_rows = sum(rows[t] for t in with_product)
    grad_recurrent = projected.new_empty(
        _rows_for_products(packed_rows, product_dtype), four_hidden, dtype=product_dtype
    )
    grad_recurrent[packed_rows:] = 0
    later, later_rows = None, 0  # dL/dh_t through step t + 1, for the rows that have one

    for t in reversed(range(steps)):
        n = rows[t]
        c_prev = c0[:n] if t == 0 else cells[t - 1, :n]
        r = recurrent[t]
        grad_r = None if r is None else grad_recurrent[starts[t] : starts[t] + n]
        cell.backward(later_rows, grad_outputs[t, :n], later, grad_final_h[:n],
                      projected[t, :n], coefficients, r, c_prev, cells[t, :n], carry[:n],
                      grad_projected[t, :n], grad_coefficients, grad_r,
                      normalize=ctx.normalize)  # fmt: skip
        grad_projected[t, n:] = 0
        later = None if r is None else times_U_t(grad_r).contiguous()
        later_rows = n

    # dU = sum over steps of dL/d(U h_{t-1})^T h_{t-1}, in one product over the packed rows
    # (and the zero rows that pad them), the largest of the step
    previous = [h0[: rows[t]] if t == 0 else outputs[t - 1, : rows[t]] for t in with_product]
    if previous:
        previous.append(h0.new_zeros(len(grad_recurrent) - packed_rows, h0.shape[1]))
        grad_U = _transposed_product(grad_recurrent, torch.cat(previous)).to(ctx.weight_dtype)
    else:
        grad_U = torch.zeros_like(product_U, dtype=ctx.weight_dtype)
    # with a zero start h0 was made inside the layer and needs no gradient
    grad_h0 = None if later is None else later.to(c0.dtype)
    return grad_projected, grad_coefficients, grad_U, grad_h0, carry


def _rows_for_products(rows: int, dtype: torch.dtype) -> int:
    """`rows`, rounded up to a multiple of SHAPE_STEP for bfloat16 products.

    On the CPU those run through oneDNN, which compiles kernels for every shape it meets
    and keeps them: about 5 ms for a new shape, nothing for one seen before, and memory for
    each (a product whose shapes never repeated once grew a run past 10 GB). dU's rows, a
    batch's summed lengths, are new at nearly every step; rounded up, they take a few dozen
    shapes in all. Float32 products go to a library that compiles nothing.
    """
    if dtype != torch.bfloat16:
        return rows
    return -(-rows // SHAPE_STEP) * SHAPE_STEP


def _transposed_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a^T b, for the tall a and b of dU. Given a^T as a transposed view, torch.mm copies
    it out in bfloat16 at three times the cost of our tiled transpose; in float32 it reads
    it in place."""
    if a.dtype == torch.bfloat16:
        return torch.mm(_transposed(a), b)
    return torch.mm(a.t(), b)


def _running_sum(counts: list[int]) -> list[int]:
    """Where each of a sequence of blocks of these sizes starts, one after the other."""
    starts, total = [], 0
    for count in counts:
        starts.append(total)
        total += count
    return starts
