"""Character n-gram baseline: interpolated modified Kneser-Ney, for the quality study.

The neural models are judged against this model, so it reads names exactly as they do: ids from
the training vocabulary, START ids padding the left context, and an END id closing every name.

Smoothing follows Chen & Goodman (1998), "An Empirical Study of Smoothing Techniques for
Language Modeling", section 3, interpolated form with three discounts per order. For a context
h of order k and a symbol w, with c the counts of that order:

    p_k(w | h) = (c(hw) - D(c(hw))) / c(h.)  +  gamma(h) * p_{k-1}(w | h'),   D(0) = 0
    gamma(h)   = (D1 N1(h.) + D2 N2(h.) + D3+ N3+(h.)) / c(h.)

where h' is h without its first symbol and N1, N2, N3+ count the symbols seen once, twice and
three or more times after h. A context never seen hands its whole mass to p_{k-1}. Below order
1 sits the uniform distribution over the predictable symbols (every id but PAD and START). The
highest order counts occurrences; lower orders count distinct left neighbours ("continuation
counts"), except for n-grams that begin with START, whose left neighbour is always padding and
says nothing about how widely they occur, so they keep the count of their occurrences.

The discounts of each order come from that order's count-of-counts n1..n4:

    Y = n1 / (n1 + 2 n2),   D1 = 1 - 2Y n2/n1,   D2 = 2 - 3Y n3/n2,   D3+ = 3 - 4Y n4/n3

and must satisfy 0 < Dk <= k, so that no count goes negative and no symbol gets probability 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from generator.errors import DataError
from generator.names import load_names, split_names
from generator.vocab import END, PAD, START, Vocabulary

log = logging.getLogger(__name__)

DEFAULT_ORDER = 7

# Used for an order whose count-of-counts cannot give sensible discounts (a handful of names
# where no n-gram occurs exactly twice, say); the values are those KenLM falls back to.
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)

# N-grams are kept as strings with one character per id (chr(id)): slicing and hashing strings
# is several times cheaper in time and memory than doing the same with tuples of ints.
_START_CHAR = chr(START)
_END_CHAR = chr(END)


@dataclass(frozen=True)
class Discounts:
    """The amounts taken from n-grams seen once, twice, and three or more times."""

    one: float
    two: float
    three_plus: float

    @classmethod
    def estimate(cls, count_of_counts: Counter[int]) -> Discounts:
        """Chen & Goodman's estimate from n1..n4, or the fallback when it is undefined."""
        n1, n2, n3, n4 = (count_of_counts[k] for k in (1, 2, 3, 4))
        if n1 and n2 and n3:
            y = n1 / (n1 + 2 * n2)
            estimate = (1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3)
            if all(0 < discount <= k for k, discount in enumerate(estimate, start=1)):
                return cls(*estimate)
        log.warning(
            "count-of-counts %s give no usable discounts; using %s",
            (n1, n2, n3, n4),
            FALLBACK_DISCOUNTS,
        )
        return cls(*FALLBACK_DISCOUNTS)

    def of(self, count: int) -> float:
        if count >= 3:
            return self.three_plus
        return (0.0, self.one, self.two)[count]


@dataclass(frozen=True)
class _Level:
    """The counts of one order and what its contexts pass down to the order below."""

    discounts: Discounts
    counts: dict[str, int]  # n-gram -> count (occurrences or continuation count)
    contexts: dict[str, tuple[int, float]]  # context -> (total count, weight of lower order)


class KneserNeyModel:
    """An interpolated modified Kneser-Ney model over the ids of one vocabulary."""

    def __init__(self, vocab: Vocabulary, levels: list[_Level]) -> None:
        self.vocab = vocab
        self.order = len(levels)
        self._levels = levels
        self.predictable = [i for i in range(len(vocab)) if i not in (PAD, START)]
        self._uniform = 1.0 / len(self.predictable)
        self._follower_lists: list[dict[str, list[tuple[int, float]]]] | None = None

    @classmethod
    def fit(
        cls, names: Iterable[str], vocab: Vocabulary, order: int = DEFAULT_ORDER
    ) -> KneserNeyModel:
        """Count the n-grams of `names` up to length `order` and estimate the discounts."""
        if order < 1:
            raise ValueError(f"the order of an n-gram model is at least 1, not {order}")
        counts = _count_highest_order(names, vocab, order)
        levels = [_build_level(counts)]
        for _ in range(order - 1):
            counts = _continuation_counts(counts)
            levels.append(_build_level(counts))
        levels.reverse()
        return cls(vocab, levels)

    def probability(self, prefix: Sequence[int], symbol: int) -> float:
        """p(symbol | prefix), where `prefix` holds the ids of the name so far."""
        if symbol in (PAD, START):
            raise ValueError(f"id {symbol} is padding or start, which the model never predicts")
        return self._probability(self._context_text(prefix), chr(symbol))

    def distribution(self, prefix: Sequence[int]) -> dict[int, float]:
        """p(. | prefix) over every predictable id."""
        context = self._context_text(prefix)
        return {symbol: self._probability(context, chr(symbol)) for symbol in self.predictable}

    def log_probability(self, name: str) -> float:
        """Natural log of the probability of `name`, its END symbol included."""
        return sum(math.log(p) for p in self.symbol_probabilities(name))

    def symbol_probabilities(self, name: str) -> list[float]:
        """p of each symbol of `name` given the ones before it, END last."""
        text = _START_CHAR * (self.order - 1) + _encode_text(name, self.vocab)
        first_predicted = self.order - 1
        return [
            self._probability(text[t - first_predicted : t], text[t])
            for t in range(first_predicted, len(text))
        ]

    def distributions(self, name: str) -> list[list[float]]:
        """p(. | prefix) over every id (0 for PAD and START) after each prefix of `name`, from
        the empty one to the whole name: a row for each symbol `symbol_probabilities` scores.

        The same figures as `distribution`, in one pass per row instead of one per symbol:
        each order scales the row of the order below and adds what it saw after its context.
        """
        text = _START_CHAR * (self.order - 1) + _encode_text(name, self.vocab)
        return [self._row(text[t - self.order + 1 : t]) for t in range(self.order - 1, len(text))]

    def _row(self, context: str) -> list[float]:
        row = [0.0] * len(self.vocab)
        for symbol in self.predictable:
            row[symbol] = self._uniform
        levels = zip(self._levels, self._followers(), strict=True)
        for length, (level, followers) in enumerate(levels):
            history = context[len(context) - length :]
            seen = level.contexts.get(history)
            if seen is None:
                continue
            row = [seen[1] * p for p in row]
            for symbol, share in followers[history]:
                row[symbol] += share
        return row

    def _followers(self) -> list[dict[str, list[tuple[int, float]]]]:
        """For each order, context -> [(symbol id, discounted count / total)], built once."""
        if self._follower_lists is None:
            self._follower_lists = []
            for level in self._levels:
                followers: dict[str, list[tuple[int, float]]] = {}
                for ngram, count in level.counts.items():
                    context = ngram[:-1]
                    share = (count - level.discounts.of(count)) / level.contexts[context][0]
                    followers.setdefault(context, []).append((ord(ngram[-1]), share))
                self._follower_lists.append(followers)
        return self._follower_lists

    def _context_text(self, prefix: Sequence[int]) -> str:
        padded = _START_CHAR * (self.order - 1) + "".join(map(chr, prefix))
        return padded[len(padded) - (self.order - 1) :]

    def _probability(self, context: str, symbol: str) -> float:
        # from the uniform distribution up to the highest order, each order mixing in the last
        probability = self._uniform
        for length, level in enumerate(self._levels):
            history = context[len(context) - length :]
            seen = level.contexts.get(history)
            if seen is None:
                continue
            total, lower_weight = seen
            count = level.counts.get(history + symbol, 0)
            # every discount is at most the count it is taken from, so this is never negative
            probability = (count - level.discounts.of(count)) / total + lower_weight * probability
        return probability


def _encode_text(name: str, vocab: Vocabulary) -> str:
    return "".join(map(chr, vocab.encode(name))) + _END_CHAR


def _count_highest_order(names: Iterable[str], vocab: Vocabulary, order: int) -> dict[str, int]:
    padding = _START_CHAR * (order - 1)
    counts: Counter[str] = Counter()
    for name in names:
        text = padding + _encode_text(name, vocab)
        counts.update(text[t - order + 1 : t + 1] for t in range(order - 1, len(text)))
    return dict(counts)


def _continuation_counts(higher: dict[str, int]) -> dict[str, int]:
    """Counts of the order below `higher`: distinct left neighbours, or occurrences after START."""
    counts: Counter[str] = Counter()
    for ngram, count in higher.items():
        shorter = ngram[1:]
        # an n-gram that starts with START is always preceded by START, so its one
        # "left neighbour" would hide how often it occurs; it keeps its occurrence count
        counts[shorter] += count if shorter[0] == _START_CHAR else 1
    return dict(counts)


def _build_level(counts: dict[str, int]) -> _Level:
    discounts = Discounts.estimate(Counter(counts.values()))
    totals: Counter[str] = Counter()
    discounted_mass: Counter[str] = Counter()
    for ngram, count in counts.items():
        context = ngram[:-1]
        totals[context] += count
        discounted_mass[context] += discounts.of(count)
    contexts = {
        context: (total, discounted_mass[context] / total) for context, total in totals.items()
    }
    return _Level(discounts, counts, contexts)


@dataclass(frozen=True)
class Evaluation:
    """How well a model predicts a set of names.

    `chars` counts the characters of the names; the averages divide by `chars + names`, because
    the END of every name is predicted too and counts as one character.
    """

    order: int
    names: int
    chars: int
    nats_per_char: float

    @property
    def bits_per_char(self) -> float:
        return self.nats_per_char / math.log(2)


def evaluate(model: KneserNeyModel, names: Sequence[str]) -> Evaluation:
    """Average negative log-probability per predicted symbol (characters plus one END a name)."""
    chars = sum(len(name) for name in names)
    nats = -sum(model.log_probability(name) for name in names)
    return Evaluation(model.order, len(names), chars, nats / (chars + len(names)))


def main(argv: Sequence[str] | None = None) -> int:
    """Fit on the training split of a CSV and print bits per character on held-out names."""
    args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        evaluation = _run(args)
    except DataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    if args.json:
        result = {
            "order": evaluation.order,
            "bits_per_char": evaluation.bits_per_char,
            "nats_per_char": evaluation.nats_per_char,
            "names": evaluation.names,
            "chars": evaluation.chars,
        }
        print(json.dumps(result))
    else:
        print(
            f"{evaluation.order}-gram: {evaluation.names} names, {evaluation.chars} chars, "
            f"{evaluation.bits_per_char:.4f} bits/char"
        )
    return 0


def _run(args: argparse.Namespace) -> Evaluation:
    split = split_names(load_names(args.data, args.column), args.validation_fraction, args.seed)
    if not split.train:
        raise DataError("no names left to train on: lower --validation-fraction")
    held_out = load_names(args.eval_data, args.column) if args.eval_data else split.validation
    if not held_out:
        raise DataError("nothing to evaluate: the validation split is empty (use --eval-data)")

    started = time.perf_counter()
    model = KneserNeyModel.fit(split.train, Vocabulary.build(split.train), args.order)
    log.info(
        "fitted a %d-gram model on %d names in %.1f s",
        args.order,
        len(split.train),
        time.perf_counter() - started,
    )
    return evaluate(model, held_out)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m generator.ngram",
        description="Bits per character of an interpolated modified Kneser-Ney character model.",
    )
    parser.add_argument("--data", required=True, help="CSV of band names to train on")
    parser.add_argument("--column", default="name", help="column holding the names")
    parser.add_argument(
        "--order", type=_positive_int, default=DEFAULT_ORDER, help="longest n-gram, in symbols"
    )
    parser.add_argument(
        "--validation-fraction",
        type=_fraction,
        default=0.05,
        help="share of distinct names held out for evaluation",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the validation split")
    parser.add_argument(
        "--eval-data", help="evaluate on all names of this CSV instead of the validation split"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, not {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, not {value:g}")
    return value


if __name__ == "__main__":
    sys.exit(main())
