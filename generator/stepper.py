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

from dataclasses import dataclass

import torch

from generator.milstm import State
from generator.model import CharModel
from generator.products import repeated_product
from generator.vocab import NEVER_SAMPLED, START


def fast_dtype(device: torch.device) -> torch.dtype:
    """bfloat16 where this CPU multiplies it natively, else float32."""
    if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return torch.float32


@dataclass(frozen=True)
class GateTables:
    """Per-character gate tables for a few genres, stacked: row g * V + c is character c in
    the g-th genre. `symbols` turns characters and each row's genre into row numbers."""

    scale: torch.Tensor | None  # (G V, 4H); None for the LSTM
    shift: torch.Tensor  # (G V, 4H)
    vocab_size: int

    def symbols(self, tokens: torch.Tensor, genre_rows: torch.Tensor | None) -> torch.Tensor:
        return tokens if genre_rows is None else tokens + genre_rows * self.vocab_size


class Stepper:
    """Steps a model for sampling: its logits give symbols never written probability zero."""

    def __init__(self, model: CharModel, dtype: torch.dtype | None = None) -> None:
        weight = model.decoder.weight
        self.model = model
        self.genre_tags = model.config.genre_tags
        with torch.no_grad():
            _, _, recurrent = model.recurrent.sampling_terms(model.embedding.weight)
            self.dtype = dtype or fast_dtype(weight.device)
            self.recurrent_product = repeated_product(recurrent, self.dtype)  # h -> U h
            self.decoder_t = weight.detach().t().contiguous()  # (H, V)
            self.decoder_bias = model.decoder.bias.detach().clone()
            self.decoder_bias[list(NEVER_SAMPLED)] = float("-inf")
        self.hidden_size = recurrent.shape[1]
        self._genre_tables: dict[str | None, tuple[torch.Tensor | None, torch.Tensor]] = {}
        self._start_states: dict[str | None, tuple[torch.Tensor, ...]] = {}
        self._first_symbol_states: dict[str | None, State] = {}
        self.plain_tables = self.gate_tables([None])

    @torch.no_grad()
    def gate_tables(self, genres: list[str | None]) -> GateTables:
        """The stacked tables for these genres (None: no genre), in this order."""
        parts = [self._tables_for(genre) for genre in genres]
        if len(parts) == 1:  # one genre's tables are used as they are, without a copy
            scale, shift = parts[0]
        else:
            scale = None if parts[0][0] is None else torch.cat([part[0] for part in parts])
            shift = torch.cat([part[1] for part in parts])
        return GateTables(scale, shift, len(self.decoder_bias))

    def start_state(self, genre: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Hidden, cell and logits (one row each) after reading <start> in this genre."""
        if genre not in self._start_states:
            tables = self.gate_tables([genre])
            start = torch.full((1,), START, dtype=torch.long, device=self.decoder_t.device)
            logits, (hidden, cell) = self.step(start, self.initial_state(1), tables)
            self._start_states[genre] = (hidden[0], cell[0], logits[0])
        return self._start_states[genre]

    def initial_state(self, rows: int) -> State:
        zeros = self.decoder_t.new_zeros(rows, self.hidden_size)
        return zeros, zeros.clone()

    def step(
        self, symbols: torch.Tensor, state: State, tables: GateTables | None = None
    ) -> tuple[torch.Tensor, State]:
        """symbols (N,), rows of `tables` -> logits (N, V) and the new state."""
        hidden, cell = self.advance(symbols, state, tables)
        return self.logits(hidden), (hidden, cell)

    def advance(self, symbols: torch.Tensor, state: State, tables: GateTables | None = None):
        """The new state after reading `symbols` (N,), rows of `tables`, without logits."""
        tables = tables or self.plain_tables
        hidden, cell = state
        size = self.hidden_size
        recurrent = self.recurrent_product(hidden)  # (N, 4H)
        pre = tables.shift.index_select(0, symbols)
        if tables.scale is None:
            pre += recurrent
        else:
            pre.addcmul_(tables.scale.index_select(0, symbols), recurrent)
        torch.sigmoid(pre[:, : 3 * size], out=pre[:, : 3 * size])
        torch.tanh(pre[:, 3 * size :], out=pre[:, 3 * size :])
        input_gate, forget_gate, output_gate, block_input = pre.chunk(4, dim=1)
        cell = torch.addcmul(forget_gate * cell, input_gate, block_input)
        return output_gate * torch.tanh(cell), cell

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-symbol scores (N, V) from hidden states (N, H)."""
        return torch.addmm(self.decoder_bias, hidden, self.decoder_t)

    @torch.no_grad()
    def first_symbol_states(self, genre: str | None) -> State:
        """Hidden and cell states (V, H) after <start> and then each symbol, in this genre.

        Every prime begins with one of V symbols, so the first step of reading it is looked
        up here, worked out for all symbols in one batched step the first time it is needed.
        """
        if genre not in self._first_symbol_states:
            hidden, cell, _ = self.start_state(genre)
            rows = len(self.decoder_bias)
            state = (hidden.expand(rows, -1), cell.expand(rows, -1))
            symbols = torch.arange(rows, device=hidden.device)
            self._first_symbol_states[genre] = self.advance(
                symbols, state, self.gate_tables([genre])
            )
        return self._first_symbol_states[genre]

    @torch.no_grad()
    def _tables_for(self, genre: str | None) -> tuple[torch.Tensor | None, torch.Tensor]:
        if genre not in self._genre_tables:
            embeddings = self.model.embedding.weight.detach()
            if genre is not None:
                if genre not in self.genre_tags:
                    raise ValueError(
                        f"this model knows no genre {genre!r}; "
                        + (
                            f"choose one of: {', '.join(self.genre_tags)}"
                            if self.genre_tags
                            else "it was trained without genre tags, so leave the genre out"
                        )
                    )
                one_hot = torch.zeros(len(self.genre_tags), device=embeddings.device)
                one_hot[self.genre_tags.index(genre)] = 1.0
                embeddings = embeddings + self.model.genre_embedding(one_hot)
            scale, shift, _ = self.model.recurrent.sampling_terms(embeddings)
            self._genre_tables[genre] = (
                None if scale is None else scale.detach().clone(),
                shift.detach().clone(),
            )
        return self._genre_tables[genre]
