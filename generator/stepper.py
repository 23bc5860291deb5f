"""One character of N names per call, with weights arranged once for fast sampling.

The input is always one of V characters, so its projection P = W e is looked up in a
per-character table instead of multiplied, and both cells take the MI-LSTM's form

    pre = (alpha * P[token] + beta1) * (U h) + beta2 * P[token] + b      (gates i, f, o, z)

(the LSTM with alpha = 0, beta1 = beta2 = 1, b = 0, its biases inside P). What is left per
step is one matrix product with U, the fused cell pass of training (generator/fused_cell.py)
and the decoder. Sampled names need less precision than training: on x86 CPUs U and the
decoder are held in int8 and the hidden state rounded to 8 bits for their products
(generator/products.py), and on those with AMX matrix units steps of many rows multiply in
bfloat16 instead; elsewhere they run in bfloat16 where the CPU multiplies it, else in
float32. Scoring (bits per character) never goes through here.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from generator.milstm import State
from generator.model import CharModel
from generator.products import (
    amx_products,
    by_rows,
    int8_products,
    padded_rows,
    quantized_product,
    repeated_product,
)
from generator.recurrence import cell_steps
from generator.vocab import NEVER_SAMPLED, START

# With AMX, oneDNN's bfloat16 products beat PyTorch's int8 ones from about this many rows
# up (U at 125 rows on a Sapphire Rapids: 0.61 against 1.23 ms) and lose below it (at 8
# rows: 0.22 against 0.15). Their rows are padded to a multiple of BFLOAT16_ROW_STEP, so
# that oneDNN compiles kernels for a few row counts (done once, when the stepper is made),
# and the weights are laid out for WIDE_BATCH rows.
WIDE_ROWS = 32
BFLOAT16_ROW_STEP = 16
WIDE_BATCH = 128


def fast_dtype(device: torch.device) -> torch.dtype:
    """The fastest products for sampling here: torch.int8 for int8 ones, else bfloat16
    where this CPU multiplies it natively, else float32."""
    if device.type == "cpu" and int8_products():
        return torch.int8
    if device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return torch.bfloat16
    return torch.float32


@dataclass(frozen=True)
class GateTables:
    """Per-character input projections for a few genres, stacked: row g * V + c is P of
    character c in the g-th genre. `symbols` turns characters and each row's genre into
    row numbers."""

    projected: torch.Tensor  # (G V, 4H)
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
            _, coefficients, recurrent = model.recurrent.sampling_terms(model.embedding.weight)
            products = dtype or fast_dtype(weight.device)
            self.products = products  # torch.int8, bfloat16 or float32
            # what the products run in, for people
            self.products_label = str(products).removeprefix("torch.")
            if products == torch.int8 and amx_products():
                self.products_label += f" (bfloat16 from {WIDE_ROWS} rows)"
            self.coefficients = coefficients.detach().float().contiguous()  # (4, 4H)
            if products == torch.int8:
                # int8 products take the hidden state in float32 and give float32
                self.dtype = torch.float32
                self.recurrent_product = self._int8_product(recurrent)  # h -> U h
                self.decoder_product = self._int8_product(weight)  # h -> logits
            else:
                self.dtype = products  # the hidden state's, so that products convert nothing
                self.recurrent_product = repeated_product(recurrent, products)
                self.decoder_product = repeated_product(weight, products)
            self.decoder_bias = model.decoder.bias.detach().float().clone()
            self.decoder_bias[list(NEVER_SAMPLED)] = float("-inf")
        self.cell_steps = cell_steps(torch.float32, self.dtype, weight.device)
        self.layer_norm = getattr(model.recurrent, "layer_norm", False)
        self.device = weight.device
        self.hidden_size = recurrent.shape[1]
        self._genre_tables: dict[str | None, torch.Tensor] = {}
        self._start_states: dict[str | None, tuple[torch.Tensor, ...]] = {}
        self._first_symbol_states: dict[str | None, State] = {}
        self.plain_tables = self.gate_tables([None])

    @staticmethod
    def _int8_product(weight: torch.Tensor):
        few = quantized_product(weight)
        if not amx_products():
            return few
        wide = repeated_product(weight.detach(), torch.bfloat16, WIDE_BATCH)
        many = padded_rows(wide, BFLOAT16_ROW_STEP)
        for rows in range(WIDE_ROWS, WIDE_BATCH + 1, BFLOAT16_ROW_STEP):
            many(weight.new_zeros(rows, weight.shape[1]))  # oneDNN compiles its kernels now
        return by_rows(few, many, WIDE_ROWS)

    @torch.no_grad()
    def gate_tables(self, genres: list[str | None]) -> GateTables:
        """The stacked tables for these genres (None: no genre), in this order."""
        parts = [self._tables_for(genre) for genre in genres]
        # one genre's table is used as it is, without a copy
        projected = parts[0] if len(parts) == 1 else torch.cat(parts)
        return GateTables(projected, len(self.decoder_bias))

    def start_state(self, genre: str | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Hidden, cell and logits (one row each) after reading <start> in this genre."""
        if genre not in self._start_states:
            tables = self.gate_tables([genre])
            start = torch.full((1,), START, dtype=torch.long, device=self.device)
            logits, (hidden, cell) = self.step(start, self.initial_state(1), tables)
            self._start_states[genre] = (hidden[0], cell[0], logits[0])
        return self._start_states[genre]

    def initial_state(self, rows: int) -> State:
        """Hidden (in the products' dtype) and cell state (float32) of zeros."""
        cell = torch.zeros(rows, self.hidden_size, device=self.device)
        return cell.to(self.dtype), cell

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
        recurrent = self.recurrent_product(hidden).contiguous()  # (N, 4H)
        new_cell = torch.empty_like(cell)
        new_hidden = torch.empty_like(cell, dtype=self.dtype)
        # each row's input projection is read straight from the table, row `symbol`
        self.cell_steps.forward(
            tables.projected, self.coefficients, recurrent, cell.contiguous(), new_cell,
            new_hidden, P_rows=symbols.contiguous(), normalize=self.layer_norm,
        )  # fmt: skip
        return new_hidden, new_cell

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Next-symbol scores (N, V) from hidden states (N, H), in float32."""
        return self.decoder_product(hidden).float() + self.decoder_bias

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
    def _tables_for(self, genre: str | None) -> torch.Tensor:
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
            projected, _, _ = self.model.recurrent.sampling_terms(embeddings)
            # in the hidden state's precision, which the compiled cell reads P in too
            self._genre_tables[genre] = projected.detach().to(self.dtype).contiguous()
        return self._genre_tables[genre]
