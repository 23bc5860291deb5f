"""The character model: embedding, a recurrent layer (MI-LSTM or LSTM), linear decoder."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from generator.milstm import MILSTM, State

CELLS = ("milstm", "lstm")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild the network; saved inside every checkpoint."""

    vocab_size: int
    cell: str = "milstm"
    embedding_size: int = 64
    hidden_size: int = 1024
    dropout: float = 0.0
    genre_tags: tuple[str, ...] = ()  # style tags the model is conditioned on; () for none
    weight_drop: float = 0.0  # share of recurrent weights dropped in each training step
    layer_norm: bool = False  # MI-LSTM only: U h_{t-1} layer-normalized

    def __post_init__(self) -> None:
        object.__setattr__(self, "genre_tags", tuple(self.genre_tags))  # JSON gives a list
        if self.cell not in CELLS:
            raise ValueError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        for field_name in ("vocab_size", "embedding_size", "hidden_size"):
            if getattr(self, field_name) < 1:
                raise ValueError(f"{field_name} must be positive")
        for field_name in ("dropout", "weight_drop"):
            value = getattr(self, field_name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{field_name} must be in [0, 1), got {value}")
        if self.layer_norm and self.cell != "milstm":
            raise ValueError("layer normalization is implemented for the MI-LSTM cell only")

    def to_dict(self) -> dict:
        return asdict(self)


class TorchLSTM(nn.Module):
    """torch.nn.LSTM behind the same interface as MILSTM, for honest comparisons."""

    def __init__(self, input_size: int, hidden_size: int, weight_drop: float = 0.0) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.weight_drop = weight_drop
        self.lstm = nn.LSTM(input_size, hidden_size)

    def forward(
        self, inputs: torch.Tensor, state: State | None = None, lengths: list[int] | None = None
    ):
        # `lengths` is ignored: oneDNN's fused LSTM, the fastest way nn.LSTM has on the CPU,
        # takes no ragged batches, so every row runs through the padding too
        if state is not None:
            state = (state[0].unsqueeze(0), state[1].unsqueeze(0))
        if self.training and self.weight_drop > 0:
            outputs, (hidden, cell) = self._forward_dropping_weights(inputs, state)
        else:
            outputs, (hidden, cell) = self.lstm(inputs, state)
        return outputs, (hidden.squeeze(0), cell.squeeze(0))

    def _forward_dropping_weights(self, inputs: torch.Tensor, state):
        # nn.LSTM reads its weights itself, so the kernel behind it is called with a
        # dropped-out copy of the recurrent matrix instead
        lstm = self.lstm
        if state is None:
            zeros = inputs.new_zeros(1, inputs.shape[1], self.hidden_size)
            state = (zeros, zeros)
        recurrent = F.dropout(lstm.weight_hh_l0, self.weight_drop)
        weights = [lstm.weight_ih_l0, recurrent, lstm.bias_ih_l0, lstm.bias_hh_l0]
        outputs, hidden, cell = torch.lstm(inputs, state, weights, True, 1, 0.0, True, False, False)
        return outputs, (hidden, cell)

    def sampling_terms(self, embeddings: torch.Tensor):
        """The input side per character, coefficients and U: see generator.stepper.

        The LSTM's pre-activation is U h + (W e + biases): that is the MI-LSTM's form with
        P = W e + biases, alpha = 0, beta1 = beta2 = 1 and b = 0. torch.nn.LSTM orders its
        gates i, f, g, o; the stepper expects i, f, o, g.
        """
        lstm = self.lstm
        projected = embeddings @ lstm.weight_ih_l0.t() + lstm.bias_ih_l0 + lstm.bias_hh_l0
        width = projected.shape[1]
        coefficients = projected.new_tensor([0.0, 1.0, 1.0, 0.0]).unsqueeze(1).expand(4, width)
        return (
            _to_ifoz(projected, dim=1),
            coefficients.contiguous(),
            _to_ifoz(lstm.weight_hh_l0, dim=0),
        )


def _to_ifoz(tensor: torch.Tensor, dim: int) -> torch.Tensor:
    input_gate, forget_gate, block_input, output_gate = tensor.chunk(4, dim=dim)
    return torch.cat([input_gate, forget_gate, output_gate, block_input], dim=dim)


class CharModel(nn.Module):
    """Predicts the next character of a name from the characters so far."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size)
        if config.cell == "milstm":
            self.recurrent = MILSTM(
                config.embedding_size, config.hidden_size, config.weight_drop, config.layer_norm
            )
        else:
            self.recurrent = TorchLSTM(
                config.embedding_size, config.hidden_size, config.weight_drop
            )
        self.dropout = nn.Dropout(config.dropout)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size)
        # each style tag adds a learned vector to every character's embedding
        self.genre_embedding = (
            nn.Linear(len(config.genre_tags), config.embedding_size, bias=False)
            if config.genre_tags
            else None
        )

    def forward(
        self,
        tokens: torch.Tensor,
        state: State | None = None,
        tags: torch.Tensor | None = None,
        lengths: list[int] | None = None,
    ):
        """tokens (T, N), multi-hot tags (N, K) -> logits (T, N, V), last state.

        `lengths`, the steps of each column before its padding, let the MI-LSTM skip the
        padding; the logits there are then of no use (scoring ignores them anyway).
        """
        tag_vectors = None
        if tags is not None and self.genre_embedding is not None:
            tag_vectors = self.genre_embedding(tags)  # (N, E), added at every step
        if isinstance(self.recurrent, MILSTM) and not self._drops_inputs():
            # undropped embeddings let the layer look W e up by character instead of
            # multiplying every step's input by W
            outputs, state = self.recurrent.forward_tokens(
                self.embedding.weight, tokens, tag_vectors, state, lengths
            )
        else:
            embedded = self.embedding(tokens)  # (T, N, E)
            if tag_vectors is not None:
                embedded = embedded + tag_vectors
            outputs, state = self.recurrent(self.dropout(embedded), state, lengths)  # (T, N, H)
        return self.decoder(self.dropout(outputs)), state

    def _drops_inputs(self) -> bool:
        return self.training and self.dropout.p > 0
