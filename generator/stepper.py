"""One character of N names per call, with weights arranged once for fast sampling.

Both cells reduce to the same step once their input side is folded into per-character
tables (the input is always one of V characters):

    pre = scale[token] * (U h) + shift[token]      (gates i, f, o, z)

For the MI-LSTM, scale = alpha * W e + beta1 and shift = beta2 * W e + b, with e the
character's embedding; for the LSTM there is no scale and shift = W e + biases. What is
left per step is one matrix product with U, the cell update and the decoder. On CPUs with
bfloat16 units U is kept in bfloat16: the product reads half as many bytes, and sampled
names do not need more precision. Scoring (bits per character) never goes through here.
"""

from __future__ import annotations

import torch

from generator.milstm import State
from generator.model import CharModel
from generator.vocab import NEVER_SAMPLED, START

# oneDNN can lay a bfloat16 weight out once for its matrix kernels (PyTorch does so when it
# freezes models for CPU inference): products with the recurrent matrix then take about
# half the time. Builds without these operators use plain products.
_ONEDNN_PACKING = hasattr(torch.ops.mkldnn, "_reorder_linear_weight") and hasattr(
    torch.ops.mkldnn, "_linear_pointwise"
)


def fast_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where this CPU multiplies it natively, else float32."""
    if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return torch.float32


class Stepper:
    """Steps a model for sampling: its logits give symbols never written probability zero."""

    def __init__(self, model: CharModel, dtype: torch.dtype | None = None) -> None:
        weight = model.decoder.weight
        with torch.no_grad():
            scale, shift, recurrent = model.recurrent.sampling_terms(model.embedding.weight)
            self.scale = None if scale is None else scale.detach().clone()
            self.shift = shift.detach().clone()
            self.dtype = dtype or fast_dtype(weight.device)
            self.recurrent_product = _product(recurrent.detach(), self.dtype)  # h -> U h
            self.decoder_t = weight.detach().t().contiguous()  # (H, V)
            self.decoder_bias = model.decoder.bias.detach().clone()
            self.decoder_bias[list(NEVER_SAMPLED)] = float("-inf")
        self.hidden_size = recurrent.shape[1]
        # every name starts by reading <start> from a zero state: do that once
        start = torch.full((1,), START, dtype=torch.long, device=self.shift.device)
        logits, (hidden, cell) = self.step(start, self.initial_state(1))
        self.start_state = (hidden[0], cell[0], logits[0])

    def initial_state(self, rows: int) -> State:
        zeros = self.shift.new_zeros(rows, self.hidden_size)
        return zeros, zeros.clone()

    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """tokens (N,) -> logits (N, V) and the new state."""
        hidden, cell = state
        size = self.hidden_size
        recurrent = self.recurrent_product(hidden)  # (N, 4H)
        pre = self.shift.index_select(0, tokens)
        if self.scale is None:
            pre += recurrent
        else:
            pre.addcmul_(self.scale.index_select(0, tokens), recurrent)
        torch.sigmoid(pre[:, : 3 * size], out=pre[:, : 3 * size])
        torch.tanh(pre[:, 3 * size :], out=pre[:, 3 * size :])
        input_gate, forget_gate, output_gate, block_input = pre.chunk(4, dim=1)
        cell = torch.addcmul(forget_gate * cell, input_gate, block_input)
        hidden = output_gate * torch.tanh(cell)
        return torch.addmm(self.decoder_bias, hidden, self.decoder_t), (hidden, cell)


def _product(weight: torch.Tensor, dtype: torch.dtype):
    """A function x -> x W^T in `dtype`, for a weight W that no longer changes."""
    if dtype == torch.bfloat16 and weight.device.type == "cpu" and _ONEDNN_PACKING:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight.to(dtype))
        return lambda x: torch.ops.mkldnn._linear_pointwise(
            x.to(dtype), packed, None, "none", [], ""
        )
    weight_t = weight.t().to(dtype).contiguous()
    return lambda x: x.to(dtype) @ weight_t
