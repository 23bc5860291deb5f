"""What combining models would buy: ensembles of checkpoints and mixtures with the n-gram.

    python -m generator.mixture --data bands.csv --checkpoint A [--checkpoint B ...]
        [--order 7] [--json]

Scores the validation names the checkpoints held out (they must agree on them), without
style tags, with each model alone, with the mean of their probabilities (an ensemble), and
with that mean mixed with a Kneser-Ney n-gram fitted on the training names,
p = (1 - w) p_model + w p_ngram, at the weight w that scores best. The weight is chosen on
the very names it is scored on, so the mixture's figure is a little optimistic.

This is a measuring tool, not a way to generate: an n-gram table of the training names is
most of the data set itself, so it is not shipped, and an ensemble costs its size in
sampling time.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from generator.errors import BandnameError
from generator.evaluate import training_split
from generator.name_generator import NameGenerator
from generator.names import load_names
from generator.ngram import DEFAULT_ORDER, KneserNeyModel
from generator.scoring import symbol_probabilities

# mixture weights tried for the n-gram: 0, 0.05, ..., 1
NGRAM_WEIGHTS = [step / 20 for step in range(21)]


def bits_per_char(probabilities: torch.Tensor) -> float:
    return -probabilities.log2().mean().item()


def measure(generators: list[NameGenerator], names: list[str], order: int) -> dict:
    """The figures of the models, their ensemble and its best mixture with the n-gram."""
    first = generators[0]
    split = training_split(first, names)
    for generator in generators[1:]:
        if generator.vocabulary.characters != first.vocabulary.characters:
            raise BandnameError("the checkpoints have different vocabularies")
        if training_split(generator, names).validation != split.validation:
            raise BandnameError("the checkpoints held out different names for validation")
    held_out = split.validation
    per_model = [symbol_probabilities(g.model, g.vocabulary, held_out) for g in generators]
    ensemble = torch.stack(per_model).mean(dim=0)

    ngram = KneserNeyModel.fit(split.train, first.vocabulary, order)
    ngram_probabilities = torch.tensor(
        [p for name in held_out for p in ngram.symbol_probabilities(name)], dtype=torch.float64
    )
    mixtures = {
        weight: bits_per_char((1 - weight) * ensemble + weight * ngram_probabilities)
        for weight in NGRAM_WEIGHTS
    }
    best_weight = min(mixtures, key=mixtures.get)
    return {
        "names": len(held_out),
        "symbols": len(ensemble),
        "models": [bits_per_char(p) for p in per_model],
        "ensemble": bits_per_char(ensemble),
        "ngram_order": order,
        "ngram": bits_per_char(ngram_probabilities),
        "mixture_weight": best_weight,
        "mixture": mixtures[best_weight],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score ensembles and n-gram mixtures.")
    parser.add_argument("--data", required=True, help="the CSV the checkpoints were trained on")
    parser.add_argument("--column", default="name", help="column holding the names")
    parser.add_argument(
        "--checkpoint", action="append", required=True, help="a model; repeat for an ensemble"
    )
    parser.add_argument("--order", type=int, default=DEFAULT_ORDER, help="n-gram order")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.order < 1:
        parser.error(f"--order must be at least 1, not {args.order}")
    try:
        generators = [NameGenerator.load(path) for path in args.checkpoint]
        result = measure(generators, load_names(args.data, args.column), args.order)
    except BandnameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result | {"checkpoints": args.checkpoint}))
        return 0
    print(f"{result['names']} validation names, {result['symbols']} symbols, bits/char:")
    for path, bits in zip(args.checkpoint, result["models"], strict=True):
        print(f"  {bits:.4f}  {path}")
    if len(generators) > 1:
        print(f"  {result['ensemble']:.4f}  the mean of the {len(generators)} models")
    print(f"  {result['ngram']:.4f}  Kneser-Ney {result['ngram_order']}-gram")
    weight = result["mixture_weight"]
    print(f"  {result['mixture']:.4f}  mixed with the n-gram at weight {weight:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
