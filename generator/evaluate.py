"""Bits per character of a model over the names of a CSV.

    python -m generator.evaluate --data names.csv [--checkpoint PATH] [--json]

Every name is scored with its end symbol, which counts as one character; characters the
model does not know are scored as its unknown symbol. A genre-aware model is scored given
each name's true style tags when the CSV has a genre column, and also without tags and
with the tags shuffled among the names: conditioning that works scores best with the truth.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys

import torch

from generator.errors import BandnameError
from generator.genres import tags_by_name
from generator.name_generator import NameGenerator
from generator.names import prepare_names, read_columns, split_names
from generator.options import TrainingOptions
from generator.scoring import nats_to_bits, stepper_nats
from generator.stepper import Stepper
from generator.vocab import UNK

# the shuffled-tags figure shuffles with this seed, so it is reproducible
SHUFFLE_SEED = 0


def evaluate(
    generator: NameGenerator, names: list[str], tags: list[frozenset[str]] | None = None
) -> dict:
    """The figures of `names`, scored given `tags` (one set a name) when the model and the
    data have them, with the figures without tags and with shuffled tags beside them."""
    chars = sum(len(name) for name in names)
    symbols = chars + len(names)
    unknown = sum(generator.vocabulary.encode(name).count(UNK) for name in names)
    conditioned = tags is not None and bool(generator.genres)
    bits = _bits_per_char(generator, names, tags if conditioned else None, symbols)
    result = {
        "bits_per_char": bits,
        "nats_per_char": bits * math.log(2),
        "names": len(names),
        "chars": chars,
        "unknown_chars": unknown,
    }
    if conditioned:
        shuffled = list(tags)
        random.Random(SHUFFLE_SEED).shuffle(shuffled)
        result["bits_per_char_without_tags"] = _bits_per_char(generator, names, None, symbols)
        result["bits_per_char_shuffled_tags"] = _bits_per_char(generator, names, shuffled, symbols)
    return result


def sampler_figures(generator: NameGenerator, names: list[str]) -> dict:
    """Bits per character step by step through the sampler, in its products' precision and
    in float32, beside the model's own figure, all on the names without unknown characters
    and without style tags: what sampling loses by its faster arithmetic. (The sampler
    never writes padding, start or unknown symbols, so its probabilities are spread over
    the other symbols only, and its figures come out a little below the model's.)"""
    known = [name for name in names if UNK not in generator.vocabulary.encode(name)]
    symbols = sum(len(name) + 1 for name in known)

    def through(stepper: Stepper) -> float:
        return nats_to_bits(sum(stepper_nats(stepper, generator.vocabulary, known))) / symbols

    return {
        "sampler_products": generator.stepper.products_label,
        "sampler_names": len(known),
        "bits_per_char_through_sampler": through(generator.stepper),
        "bits_per_char_through_float32_sampler": through(Stepper(generator.model, torch.float32)),
        "bits_per_char_same_names": _bits_per_char(generator, known, None, symbols),
    }


def _bits_per_char(generator, names, tags, symbols: int) -> float:
    return -sum(generator.score(names, tags)) / symbols


def training_split(generator: NameGenerator, names: list[str]):
    """The train/validation split the checkpoint's training run made of these names."""
    if not generator.training.get("options"):
        raise BandnameError("this checkpoint does not record how its training data was split")
    options = TrainingOptions.saved_in(generator.training)
    return split_names(names, options.validation_fraction, options.split_seed)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Score a model on the names of a CSV.")
    parser.add_argument("--checkpoint", metavar="PATH", help="model file (default: shipped model)")
    parser.add_argument("--data", required=True, help="CSV of names to score")
    parser.add_argument("--column", default="name", help="column holding the names")
    parser.add_argument(
        "--genre-column", default="genre", help="column of genre strings, if the CSV has one"
    )
    parser.add_argument(
        "--split",
        choices=("all", "train", "validation"),
        default="all",
        help="score only one side of the split the checkpoint was trained with",
    )
    parser.add_argument(
        "--sampler",
        action="store_true",
        help="also score the names step by step through the sampler, in its precision",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    try:
        generator = NameGenerator.load(args.checkpoint)
        columns = read_columns(args.data, [args.column], (args.genre_column,))
        names = prepare_names(columns[args.column])
        if args.split != "all":
            names = getattr(training_split(generator, names), args.split)
        tags = None
        if args.genre_column in columns:
            tags_of_name = tags_by_name(columns[args.column], columns[args.genre_column])
            tags = [tags_of_name[name] for name in names]
        result = evaluate(generator, names, tags)
        if args.sampler:
            result |= sampler_figures(generator, names)
    except BandnameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result))
    else:
        given = " given the true style tags" if "bits_per_char_without_tags" in result else ""
        print(
            f"{result['bits_per_char']:.4f} bits/char ({result['nats_per_char']:.4f} nats/char)"
            f"{given} over {result['names']} names, {result['chars']} characters "
            f"({result['unknown_chars']} unknown)"
        )
        if given:
            print(f"{result['bits_per_char_without_tags']:.4f} bits/char without tags")
            print(f"{result['bits_per_char_shuffled_tags']:.4f} bits/char with shuffled tags")
        if args.sampler:
            print(
                f"through the sampler, over the {result['sampler_names']} names without "
                f"unknown characters, without tags: "
                f"{result['bits_per_char_through_sampler']:.4f} bits/char with its "
                f"{result['sampler_products']} products, "
                f"{result['bits_per_char_through_float32_sampler']:.4f} in float32 "
                f"(the model itself on the same names: {result['bits_per_char_same_names']:.4f})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
