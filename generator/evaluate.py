"""Bits per character of a model over the names of a CSV.

    python -m generator.evaluate --data names.csv [--checkpoint PATH] [--json]

Every name is scored with its end symbol, which counts as one character; characters the
model does not know are scored as its unknown symbol.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

from generator.errors import BandnameError
from generator.name_generator import NameGenerator
from generator.names import load_names, split_names
from generator.vocab import UNK


def evaluate(generator: NameGenerator, names: list[str]) -> dict:
    nats = -sum(generator.score(names)) * math.log(2)
    chars = sum(len(name) for name in names)
    symbols = chars + len(names)
    unknown = sum(generator.vocabulary.encode(name).count(UNK) for name in names)
    return {
        "bits_per_char": nats / symbols / math.log(2),
        "nats_per_char": nats / symbols,
        "names": len(names),
        "chars": chars,
        "unknown_chars": unknown,
    }


def training_split(generator: NameGenerator, names: list[str]):
    """The train/validation split the checkpoint's training run made of these names."""
    options = generator.training.get("options")
    if not options:
        raise BandnameError("this checkpoint does not record how its training data was split")
    return split_names(names, options["validation_fraction"], options["seed"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a model on the names of a CSV.")
    parser.add_argument("--checkpoint", metavar="PATH", help="model file (default: shipped model)")
    parser.add_argument("--data", required=True, help="CSV of names to score")
    parser.add_argument("--column", default="name", help="column holding the names")
    parser.add_argument(
        "--split",
        choices=("all", "train", "validation"),
        default="all",
        help="score only one side of the split the checkpoint was trained with",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        generator = NameGenerator.load(args.checkpoint)
        names = load_names(args.data, args.column)
        if args.split != "all":
            names = getattr(training_split(generator, names), args.split)
        result = evaluate(generator, names)
    except BandnameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"{result['bits_per_char']:.4f} bits/char ({result['nats_per_char']:.4f} nats/char) "
            f"over {result['names']} names, {result['chars']} characters "
            f"({result['unknown_chars']} unknown)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
