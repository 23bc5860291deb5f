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
the recurrence, by ordinary autograd. What is left inside the loop is one matrix product and
a few elementwise operations per step. The loop runs in `MultiplicativeRecurrence`, an
autograd function with a hand-written backward pass: recording a dozen small operations per
step with autograd costs more than the arithmetic itself at the batch sizes we train with.
"""

from __future__ import annotations

import math

import torch
from torch import nn

State = tuple[torch.Tensor, torch.Tensor]


def _matmul_dtype(tensor: torch.Tensor) -> torch.dtype:
    """bfloat16 inside a CPU or CUDA autocast region asking for it, else the tensor's dtype."""
    device_type = tensor.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return tensor.dtype


class MultiplicativeRecurrence(torch.autograd.Function):
    """Runs pre_t = A_t * (U h_{t-1}) + B_t and the LSTM cell over a whole sequence.

    Shapes: A, B (T, N, 4H) with gates ordered i, f, o, z; U (4H, H); h0, c0 (N, H).
    Returns the hidden states (T, N, H) and the final cell state (N, H).
    """

    @staticmethod
    def forward(ctx, A, B, U, h0, c0):  # noqa: N803 - the paper's names
        # the matrix products below pick their precision themselves, so autocast stays out
        with torch.autocast(A.device.type, enabled=False):
            return MultiplicativeRecurrence._forward(ctx, A, B, U, h0, c0, _matmul_dtype(A))

    @staticmethod
    def _forward(ctx, A, B, U, h0, c0, matmul_dtype):  # noqa: N803
        steps, batch, four_hidden = A.shape
        hidden = four_hidden // 4
        U_t = U.t().to(matmul_dtype)

        recurrent = A.new_empty(steps, batch, four_hidden)  # U h_{t-1} for every step
        gates = A.new_empty(steps, batch, four_hidden)  # i, f, o, z after their nonlinearity
        cells = A.new_empty(steps + 1, batch, hidden)
        outputs = A.new_empty(steps + 1, batch, hidden)  # h_0 .. h_T; h_0 is the initial state
        cells[0] = c0
        outputs[0] = h0

        for t in range(steps):
            if matmul_dtype == A.dtype:
                torch.mm(outputs[t], U_t, out=recurrent[t])
            else:
                recurrent[t] = outputs[t].to(matmul_dtype) @ U_t
            pre = torch.addcmul(B[t], A[t], recurrent[t], out=gates[t])
            torch.sigmoid(pre[:, : 3 * hidden], out=gates[t, :, : 3 * hidden])
            torch.tanh(pre[:, 3 * hidden :], out=gates[t, :, 3 * hidden :])
            input_gate, forget_gate, output_gate, block_input = gates[t].chunk(4, dim=1)
            torch.mul(forget_gate, cells[t], out=cells[t + 1])
            cells[t + 1].addcmul_(input_gate, block_input)
            torch.tanh(cells[t + 1], out=outputs[t + 1])
            outputs[t + 1].mul_(output_gate)

        ctx.save_for_backward(A, U, recurrent, gates, cells, outputs)
        ctx.matmul_dtype = matmul_dtype
        return outputs[1:], cells[steps].clone()

    @staticmethod
    def backward(ctx, grad_outputs, grad_final_cell):
        A, U, recurrent, gates, cells, outputs = ctx.saved_tensors
        steps, batch, four_hidden = A.shape
        hidden = four_hidden // 4
        U_mm = U.to(ctx.matmul_dtype)

        input_gate, forget_gate, output_gate, block_input = gates.chunk(4, dim=2)
        tanh_cells = torch.tanh(cells[1:])
        # derivatives of the nonlinearities, for all steps at once
        activation_slope = torch.empty_like(gates)
        sigmoids = gates[..., : 3 * hidden]
        torch.mul(sigmoids, 1 - sigmoids, out=activation_slope[..., : 3 * hidden])
        torch.mul(block_input, block_input, out=activation_slope[..., 3 * hidden :])
        activation_slope[..., 3 * hidden :].neg_().add_(1)
        # d c_t / d h_t along the output path: o * (1 - tanh(c)^2)
        cell_slope = (1 - tanh_cells * tanh_cells).mul_(output_gate)

        grad_outputs = grad_outputs.contiguous()
        grad_pre = torch.empty_like(gates)  # dL/dpre for every step
        grad_hidden = torch.zeros_like(outputs[0])
        grad_cell = (
            grad_final_cell.clone() if grad_final_cell is not None else torch.zeros_like(cells[0])
        )
        for t in reversed(range(steps)):
            grad_hidden += grad_outputs[t]
            grad_cell.addcmul_(grad_hidden, cell_slope[t])
            d_input, d_forget, d_output, d_block = grad_pre[t].chunk(4, dim=1)
            torch.mul(grad_hidden, tanh_cells[t], out=d_output)
            torch.mul(grad_cell, block_input[t], out=d_input)
            torch.mul(grad_cell, cells[t], out=d_forget)
            torch.mul(grad_cell, input_gate[t], out=d_block)
            grad_pre[t].mul_(activation_slope[t])
            grad_cell.mul_(forget_gate[t])
            grad_recurrent = grad_pre[t] * A[t]
            grad_hidden = (grad_recurrent.to(ctx.matmul_dtype) @ U_mm).to(grad_hidden.dtype)

        grad_A = grad_pre * recurrent
        grad_recurrent_all = (grad_pre * A).reshape(-1, four_hidden)
        previous_outputs = outputs[:-1].reshape(-1, hidden)
        grad_U = (
            grad_recurrent_all.t().to(ctx.matmul_dtype) @ previous_outputs.to(ctx.matmul_dtype)
        ).to(U.dtype)
        return grad_A, grad_pre, grad_U, grad_hidden, grad_cell


class MILSTM(nn.Module):
    """One MI-LSTM layer over time-major input: (T, N, input_size) -> (T, N, hidden_size)."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
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
        projected = inputs @ self.input_weight.t()
        projected = projected.float() if projected.dtype != self.alpha.dtype else projected
        A = torch.addcmul(self.beta1, self.alpha, projected)
        B = torch.addcmul(self.bias, self.beta2, projected)
        return A, B

    def step(self, inputs: torch.Tensor, state: State) -> State:
        """One time step for sampling, without autograd bookkeeping: (N, E) -> (h, c)."""
        A, B = self.input_terms(inputs)
        hidden, cell = state
        pre = torch.addcmul(B, A, hidden @ self.recurrent_weight.t())  # (N, 4H)
        input_gate, forget_gate, output_gate = torch.sigmoid(pre[:, : 3 * self.hidden_size]).chunk(
            3, 1
        )
        block_input = torch.tanh(pre[:, 3 * self.hidden_size :])
        cell = torch.addcmul(forget_gate * cell, input_gate, block_input)
        return output_gate * torch.tanh(cell), cell

    def forward(self, inputs: torch.Tensor, state: State | None = None):
        if state is None:
            state = self.initial_state(inputs.shape[1], inputs.float())
        A, B = self.input_terms(inputs)
        outputs, final_cell = MultiplicativeRecurrence.apply(
            A, B, self.recurrent_weight, state[0], state[1]
        )
        return outputs, (outputs[-1], final_cell)
