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

A and B depend on the inputs only: W x is one matrix product for the whole sequence (or a
lookup, for embedded characters), and what is left inside the loop is one matrix product
and one elementwise pass per step. The layer runs as one autograd function with a
hand-written backward pass (generator/recurrence.py), checked against the equations above
by tests/test_milstm.py.

With layer normalization (Ba et al. 2016), U h_{t-1} enters pre_t normalized over all its
4H values, n = (U h - mean) / sqrt(var + 1e-5), in every place it appears above.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from generator.products import product_dtype
from generator.recurrence import InputProjection, MILSTMFunction, TableLookup

State = tuple[torch.Tensor, torch.Tensor]


class MILSTM(nn.Module):
    """One MI-LSTM layer over time-major input: (T, N, input_size) -> (T, N, hidden_size)."""

    def __init__(
        self, input_size: int, hidden_size: int, weight_drop: float = 0.0, layer_norm: bool = False
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        # layer normalization of U h_{t-1} over its 4H values, without a gain or bias of its
        # own: A and B (see above) scale and shift it per unit already
        self.layer_norm = layer_norm
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

    def sampling_terms(self, embeddings: torch.Tensor):
        """P = W e of each embedding, the coefficients (alpha, beta1, beta2, b) stacked
        (4, 4H), and U: see generator.stepper."""
        coefficients = torch.stack([self.alpha, self.beta1, self.beta2, self.bias])
        return embeddings @ self.input_weight.t(), coefficients, self.recurrent_weight

    def forward(
        self, inputs: torch.Tensor, state: State | None = None, lengths: list[int] | None = None
    ):
        """inputs (T, N, input_size) -> outputs (T, N, H), each row's last state.

        `lengths` (N ints, all T by default) are where each row's sequence ends: past it the
        outputs are zero, and the state returned is the one at the row's last step.
        """
        projected = InputProjection.apply(inputs, self.input_weight)
        return self.forward_projected(projected, state, lengths)

    def forward_tokens(
        self,
        embeddings: torch.Tensor,
        tokens: torch.Tensor,
        row_inputs: torch.Tensor | None = None,
        state: State | None = None,
        lengths: list[int] | None = None,
    ):
        """The layer over the inputs x_t = embeddings[tokens_t] (+ row_inputs, one vector per
        row added at every step), as `forward` takes them.

        Then W x_t is a row of the table W e, formed once for each of the V embeddings and
        looked up by token, instead of a product over every step's input: a few times less
        work at our sizes, and the same sums. Only for inputs that see no dropout.
        Shapes: embeddings (V, input_size), tokens (T, N), row_inputs (N, input_size).
        """
        dtype = product_dtype(embeddings)
        with torch.autocast(embeddings.device.type, enabled=False):
            table = embeddings @ self.input_weight.t()  # (V, 4H), in the weights' precision
            row_terms = None
            if row_inputs is not None:
                row_terms = row_inputs.to(table.dtype) @ self.input_weight.t()
        projected = TableLookup.apply(table, tokens, row_terms, dtype)
        return self.forward_projected(projected, state, lengths)

    def forward_projected(
        self, projected: torch.Tensor, state: State | None = None, lengths: list[int] | None = None
    ):
        """`forward` from the input projections P = W x_t, (T, N, 4H)."""
        steps, batch, _ = projected.shape
        lengths = [steps] * batch if lengths is None else list(lengths)
        if any(not 1 <= length <= steps for length in lengths):
            raise ValueError(f"lengths must lie in [1, {steps}], got {lengths}")
        longest_first = sorted(range(batch), key=lambda row: -lengths[row])
        if longest_first != list(range(batch)):
            return self._forward_reordered(projected, state, lengths, longest_first)

        zero_start = state is None
        if state is None:
            state = self.initial_state(batch, self.alpha.detach())
        recurrent_weight = self.recurrent_weight
        if self.training and self.weight_drop > 0:
            recurrent_weight = F.dropout(recurrent_weight, self.weight_drop)
        outputs, final_h, final_c = MILSTMFunction.apply(
            projected, self.alpha, self.beta1, self.beta2, self.bias,
            recurrent_weight, state[0], state[1], lengths, zero_start, self.layer_norm,
        )  # fmt: skip
        return outputs, (final_h, final_c)

    def _forward_reordered(self, projected, state, lengths, order):
        """The recurrence takes rows longest first: sort them, run, and put them back."""
        order_tensor = torch.tensor(order, device=projected.device)
        back = torch.empty_like(order_tensor)
        back[order_tensor] = torch.arange(len(order), device=projected.device)
        if state is not None:
            state = (state[0][order_tensor], state[1][order_tensor])
        outputs, (h, c) = self.forward_projected(
            projected[:, order_tensor], state, [lengths[row] for row in order]
        )
        return outputs[:, back], (h[back], c[back])
