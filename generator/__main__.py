"""Command line: print fresh band names, one per line.

python -m generator --prime Zombie -n 10
"""

from __future__ import annotations

import argparse
import logging
import sys

from generator.errors import BandnameError
from generator.name_generator import NameGenerator
from generator.request import DEFAULT_TEMPERATURE, GenerationRequest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bandname", description="Invent death metal band names that no band has yet."
    )
    parser.add_argument("--checkpoint", metavar="PATH", help="model file (default: shipped model)")
    parser.add_argument("--prime", default="", help="text every name starts with")
    parser.add_argument("-n", type=int, default=10, help="how many names (1-100)")
    parser.add_argument(
        "--temperature",
        type=float,
        default=DEFAULT_TEMPERATURE,
        help="0.5 is tame, 1.0 adventurous, up to 2 (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, help="seed for repeatable names")
    parser.add_argument("--genre", help="a style tag the names should fit (see --list-genres)")
    parser.add_argument(
        "--list-genres", action="store_true", help="print the model's style tags and exit"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        if args.list_genres:
            genres = NameGenerator.load(args.checkpoint).genres
            print("\n".join(genres) or "(this model was trained without genres)")
            return 0
        # the request is checked before the model loads, so a typo is reported at once
        request = GenerationRequest(args.n, args.prime, args.temperature, args.seed, args.genre)
        names = NameGenerator.load(args.checkpoint).generate_many([request])[0]
    except (BandnameError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("\n".join(names))
    return 0


if __name__ == "__main__":
    sys.exit(main())
