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

from generator.products import linear, product_dtype
from generator.recurrence import MultiplicativeRecurrence

State = tuple[torch.Tensor, torch.Tensor]


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
        projected = linear(inputs, W, product_dtype(inputs)).to(alpha.dtype)  # bf16 under autocast
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

    def forward(
        self, inputs: torch.Tensor, state: State | None = None, lengths: list[int] | None = None
    ):
        """inputs (T, N, input_size) -> outputs (T, N, H), each row's last state.

        `lengths` (N ints, all T by default) are where each row's sequence ends: past it the
        outputs are zero, and the state returned is the one at the row's last step.
        """
        steps, batch, _ = inputs.shape
        lengths = [steps] * batch if lengths is None else list(lengths)
        if any(not 1 <= length <= steps for length in lengths):
            raise ValueError(f"lengths must lie in [1, {steps}], got {lengths}")
        longest_first = sorted(range(batch), key=lambda row: -lengths[row])
        if longest_first != list(range(batch)):
            return self._forward_reordered(inputs, state, lengths, longest_first)

        zero_start = state is None
        if state is None:
            state = self.initial_state(batch, inputs.float())
        A, B = self.input_terms(inputs)
        recurrent_weight = self.recurrent_weight
        if self.training and self.weight_drop > 0:
            recurrent_weight = F.dropout(recurrent_weight, self.weight_drop)
        outputs, final_h, final_c = MultiplicativeRecurrence.apply(
            A, B, recurrent_weight, state[0], state[1], lengths, zero_start
        )
        return outputs, (final_h, final_c)

    def _forward_reordered(self, inputs, state, lengths, order):
        """The recurrence takes rows longest first: sort them, run, and put them back."""
        order_tensor = torch.tensor(order, device=inputs.device)
        back = torch.empty_like(order_tensor)
        back[order_tensor] = torch.arange(len(order), device=inputs.device)
        if state is not None:
            state = (state[0][order_tensor], state[1][order_tensor])
        outputs, (h, c) = self(inputs[:, order_tensor], state, [lengths[row] for row in order])
        return outputs[:, back], (h[back], c[back])
