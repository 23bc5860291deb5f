"""The LSTM with multiplicative integration (MI-LSTM).

Wu et al. 2016, "On Multiplicative Integration with Recurrent Neural Networks", Appendix A.
For each gate k in (input i, forget f, output o, block input z):

    pre_k = alpha_k * (W_k x_t) * (U_k h_{t-1})
            + beta1_k * (U_k h_{t-1}) + beta2_k * (W_k x_t) + b_k
    i, f, o = sigmoid(pre_i), sigmoid(pre_f), sigmoid(pre_o);   z = tanh(pre_z)
    c_t = f * c_{t-1} + i * z
    h_t = o * tanh(c_t)

Grouping the terms by U h gives the form we compute:

    pre_t = A_t * (U h_{t-1}) + B_t,   A_t = alpha * W x_t + beta1,   B_t = beta2 * W x_t + b

A and B depend on the inputs only, so they are made for the whole sequence at once, outside
the recurrence (`InputTerms`). What is left inside the loop is one matrix product and a few
elementwise operations per step. The loop runs in `MultiplicativeRecurrence`, an autograd
function with a hand-written backward pass: recording a dozen small operations per step with
autograd costs more than the arithmetic itself at the batch sizes we train with. Both
functions are checked against the equations above by tests/test_milstm.py.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generator.products import linear, repeated_product

State = tuple[torch.Tensor, torch.Tensor]


def _matmul_dtype(tensor: torch.Tensor) -> torch.dtype:
    """bfloat16 inside a CPU or CUDA autocast region asking for it, else the tensor's dtype."""
    device_type = tensor.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return tensor.dtype


class InputTerms(torch.autograd.Function):
    """A = alpha * (W x) + beta1 and B = beta2 * (W x) + b for every step: (T, N, 4H) each.

    Autograd would differentiate this through a dozen passes over (T, N, 4H) tensors. The
    hand-written backward pass moves W x out of the sums instead, so that every gradient
    comes from four thin matrix products with the inputs and two sums:

        dW = alpha * (dA^T x) + beta2 * (dB^T x)       dx = dA (alpha W) + dB (beta2 W)
        dalpha = rowsum(W * dA^T x)    dbeta2 = rowsum(W * dB^T x)
        dbeta1 = sum dA                db = sum dB
    """

    @staticmethod
    def forward(ctx, inputs, W, alpha, beta1, beta2, bias):  # noqa: N803
        projected = linear(inputs, W, _matmul_dtype(inputs)).to(alpha.dtype)  # bf16 under autocast
        ctx.save_for_backward(inputs, W, alpha, beta2)
        return torch.addcmul(beta1, alpha, projected), torch.addcmul(bias, beta2, projected)

    @staticmethod
    def backward(ctx, grad_A, grad_B):  # noqa: N803
        inputs, W, alpha, beta2 = ctx.saved_tensors
        flat_inputs = inputs.reshape(-1, inputs.shape[-1]).to(W.dtype)  # (T N, E)
        flat_A = grad_A.reshape(-1, grad_A.shape[-1])  # (T N, 4H)
        flat_B = grad_B.reshape(-1, grad_B.shape[-1])
        through_A = flat_A.t() @ flat_inputs  # (4H, E)
        through_B = flat_B.t() @ flat_inputs
        grad_W = through_A * alpha.unsqueeze(1) + through_B * beta2.unsqueeze(1)
        grad_inputs = linear(flat_A, (W * alpha.unsqueeze(1)).t()) + linear(
            flat_B, (W * beta2.unsqueeze(1)).t()
        )
        return (
            grad_inputs.view(inputs.shape).to(inputs.dtype),
            grad_W,
            (W * through_A).sum(1),
            flat_A.sum(0),
            (W * through_B).sum(1),
            flat_B.sum(0),
        )


class MultiplicativeRecurrence(torch.autograd.Function):
    """Runs pre_t = A_t * (U h_{t-1}) + B_t and the LSTM cell over a whole sequence.

    Shapes: A, B (T, N, 4H) with gates ordered i, f, o, z; U (4H, H); h0, c0 (N, H).
    Returns the hidden states (T, N, H) and the final cell state (N, H).
    """

    @staticmethod
    def forward(ctx, A, B, U, h0, c0):  # noqa: N803 - the paper's names
        matmul_dtype = _matmul_dtype(A)
        # the matrix products below pick their precision themselves, so autocast stays out
        with torch.autocast(A.device.type, enabled=False):
            return MultiplicativeRecurrence._forward(ctx, A, B, U, h0, c0, matmul_dtype)

    @staticmethod
    def _forward(ctx, A, B, U, h0, c0, matmul_dtype):  # noqa: N803
        steps, batch, four_hidden = A.shape
        hidden = four_hidden // 4
        times_U = repeated_product(U, matmul_dtype, batch)  # h -> U h

        # Tensors that only feed matrix products are kept in the product's precision, so that
        # bfloat16 runs convert nothing inside the loop; the cell state stays in float32.
        recurrent = A.new_empty(steps, batch, four_hidden, dtype=matmul_dtype)  # U h_{t-1}
        outputs = A.new_empty(steps + 1, batch, hidden, dtype=matmul_dtype)  # h_0 .. h_T
        gates = A.new_empty(steps, batch, four_hidden)  # i, f, o, z after their nonlinearity
        cells = A.new_empty(steps + 1, batch, hidden)  # c_0 .. c_T
        tanh_cells = A.new_empty(steps, batch, hidden)  # tanh(c_1) .. tanh(c_T)
        cells[0] = c0
        outputs[0] = h0

        for t in range(steps):
            recurrent[t] = times_U(outputs[t])
            pre = torch.addcmul(B[t], A[t], recurrent[t], out=gates[t])
            _gate_nonlinearities_(pre, hidden)
            input_gate, forget_gate, output_gate, block_input = gates[t].chunk(4, dim=1)
            torch.mul(forget_gate, cells[t], out=cells[t + 1])
            cells[t + 1].addcmul_(input_gate, block_input)
            _tanh(cells[t + 1], out=tanh_cells[t])
            torch.mul(output_gate, tanh_cells[t], out=outputs[t + 1])

        ctx.save_for_backward(A, U, recurrent, gates, cells, tanh_cells, outputs)
        return outputs[1:], cells[steps].clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_final_cell):
        A, U, recurrent, gates, cells, tanh_cells, outputs = ctx.saved_tensors
        steps, batch, four_hidden = A.shape
        hidden = four_hidden // 4
        times_U_t = repeated_product(U.t(), outputs.dtype, batch)  # g -> U^T g
        gate_factors, cell_slope = _backward_factors(gates, cells, tanh_cells)
        # The loop touches as little memory as it can: only what the recurrence needs to
        # go one step back. dL/dpre for all steps is assembled afterwards in bulk.
        recurrent_factors = (gate_factors * A).view(steps, batch, 4, hidden)

        grad_hidden = torch.empty_like(tanh_cells)  # dL/dh_t
        grad_cell = torch.empty_like(tanh_cells)  # dL/dc_t
        grad_recurrent = torch.empty_like(recurrent)  # dL/d(U h_{t-1}) = dL/dpre_t * A_t
        from_later_steps = torch.zeros_like(cells[0])  # dL/dh_t through step t + 1
        cell_carry = grad_final_cell  # dL/dc_t through c_{t+1}
        for t in reversed(range(steps)):
            torch.add(grad_outputs[t], from_later_steps, out=grad_hidden[t])
            torch.addcmul(cell_carry, grad_hidden[t], cell_slope[t], out=grad_cell[t])
            # i, f and z take their gradient from the cell, o from the hidden state
            step_grad = grad_recurrent[t].view(batch, 4, hidden)
            torch.mul(grad_cell[t].unsqueeze(1), recurrent_factors[t], out=step_grad)
            torch.mul(grad_hidden[t], recurrent_factors[t, :, 2], out=step_grad[:, 2])
            cell_carry = grad_cell[t] * gates[t, :, hidden : 2 * hidden]
            from_later_steps = times_U_t(grad_recurrent[t])

        grad_pre = torch.mul(
            grad_cell.unsqueeze(2), gate_factors.view(steps, batch, 4, hidden)
        ).view_as(gates)
        torch.mul(
            grad_hidden,
            gate_factors[..., 2 * hidden : 3 * hidden],
            out=grad_pre[..., 2 * hidden : 3 * hidden],
        )
        grad_A = grad_pre * recurrent
        # dU = sum over steps of dL/d(U h_{t-1})^T h_{t-1}
        grad_U = linear(
            grad_recurrent.view(-1, four_hidden).t(), outputs[:-1].view(-1, hidden).t().contiguous()
        )
        grad_h0 = from_later_steps.to(cell_carry.dtype)
        return grad_A, grad_pre, grad_U.to(U.dtype), grad_h0, cell_carry


# PyTorch's CPU tanh takes about five times as long as its sigmoid (torch 2.13, AVX-512),
# and the two tanh of a step cost more than the rest of its elementwise work. On the CPU
# the recurrence therefore computes tanh(x) as 2 sigmoid(2x) - 1: a few cheap passes over
# a block that sits in cache, exact up to float32 rounding (about 1e-7 absolute).


def _gate_nonlinearities_(pre: torch.Tensor, hidden: int) -> None:
    """sigmoid on the i, f, o blocks of pre (N, 4H) and tanh on z, in place."""
    if pre.device.type != "cpu":
        torch.sigmoid_(pre[:, : 3 * hidden])
        torch.tanh_(pre[:, 3 * hidden :])
        return
    block_input = pre[:, 3 * hidden :]
    block_input.mul_(2)
    torch.sigmoid_(pre)
    block_input.mul_(2).sub_(1)


def _tanh(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    if x.device.type != "cpu":
        return torch.tanh(x, out=out)
    torch.mul(x, 2, out=out)
    torch.sigmoid_(out)
    return out.mul_(2).sub_(1)


def _backward_factors(gates, cells, tanh_cells):
    """What dL/dc_t (and, for o, dL/dh_t) is multiplied by to give dL/dpre_t, for all steps.

    i: z * i(1 - i)    f: c_{t-1} * f(1 - f)    o: tanh(c_t) * o(1 - o)    z: i * (1 - z^2)
    and the slope of h_t in c_t along the output path: o * (1 - tanh(c_t)^2).
    """
    input_gate, forget_gate, output_gate, block_input = gates.chunk(4, dim=2)
    hidden = cells.shape[-1]
    factors = torch.mul(gates, gates).neg_()
    factors[..., : 3 * hidden].add_(gates[..., : 3 * hidden])
    factors[..., 3 * hidden :].add_(1)
    factor_input, factor_forget, factor_output, factor_block = factors.chunk(4, dim=2)
    factor_input.mul_(block_input)
    factor_forget.mul_(cells[:-1])
    factor_output.mul_(tanh_cells)
    factor_block.mul_(input_gate)
    cell_slope = torch.mul(tanh_cells, tanh_cells).neg_().add_(1).mul_(output_gate)
    return factors, cell_slope


class MILSTM(nn.Module):
    """One MI-LSTM layer over time-major input: (T, N, input_size) -> (T, N, hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        # DropConnect on U: one mask a training step, shared by every time step
        self.weight_drop = weight_drop
        # W and U hold the four gates stacked in the order i, f, o, z
        self.input_weight = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.recurrent_weight = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.alpha = nn.Parameter(torch.empty(4 * hidden_size))
        self.beta1 = nn.Parameter(torch.empty(4 * hidden_size))
        self.beta2 = nn.Parameter(torch.empty(4 * hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.input_weight, -bound, bound)
        nn.init.uniform_(self.recurrent_weight, -bound, bound)
        # With alpha = 1 and beta1 = beta2 = 0.5 the additive terms start as strong as the
        # multiplicative one, so early training does not hinge on the product alone.
        nn.init.ones_(self.alpha)
        nn.init.constant_(self.beta1, 0.5)
        nn.init.constant_(self.beta2, 0.5)
        nn.init.zeros_(self.bias)
        # a forget-gate bias of 1 lets the cell remember from the first step on
        nn.init.ones_(self.bias[self.hidden_size : 2 * self.hidden_size])

    def initial_state(self, batch_size: int, like: torch.Tensor) -> State:
        zeros = like.new_zeros(batch_size, self.hidden_size)
        return zeros, zeros.clone()

    def input_terms(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A = alpha * W x + beta1 and B = beta2 * W x + b for every step: (T, N, 4H) each."""
        return InputTerms.apply(
            inputs, self.input_weight, self.alpha, self.beta1, self.beta2, self.bias
        )

    def sampling_terms(self, embeddings: torch.Tensor):
        """Per-character scale and shift of the gates, and U: see generator.stepper."""
        scale, shift = self.input_terms(embeddings)
        return scale, shift, self.recurrent_weight

    def forward(self, inputs: torch.Tensor, state: State | None = None):
        if state is None:
            state = self.initial_state(inputs.shape[1], inputs.float())
        A, B = self.input_terms(inputs)
        recurrent_weight = self.recurrent_weight
        if self.training and self.weight_drop > 0:
            recurrent_weight = F.dropout(recurrent_weight, self.weight_drop)
        outputs, final_cell = MultiplicativeRecurrence.apply(
            A, B, recurrent_weight, state[0], state[1]
        )
        return outputs, (outputs[-1], final_cell)
