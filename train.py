"""Train a bandname model: `python train.py --help` lists the options.

The defaults reproduce the seed experiment (MI-LSTM, hidden 1024, embedding 64, Adam at
5e-4 for 3 epochs, the rate quartered at each new epoch) on data/bands.csv.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from generator.devices import DEVICES, PRECISIONS
from generator.errors import BandnameError
from generator.model import CELLS
from generator.training import TrainingOptions, train

log = logging.getLogger("train")

DATASET_HINT = (
    'download bands.csv from the Kaggle dataset "death-metal" '
    "(kaggle.com/datasets/zhangjuefei/death-metal) and put it at {path}, or pass --data PATH"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = TrainingOptions()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--data", default=defaults.data, help="CSV of band names (default: %(default)s)")
    add("--column", default=defaults.column, help="column holding the names")
    add("--cell", choices=CELLS, default=defaults.cell, help="recurrent cell")
    add("--hidden-size", type=int, default=defaults.hidden_size, help="recurrent units")
    add("--embedding-size", type=int, default=defaults.embedding_size, help="character embedding")
    add("--dropout", type=float, default=defaults.dropout, help="dropout on embeddings and outputs")
    add("--epochs", type=int, default=defaults.epochs, help="passes over the training names")
    add("--batch-size", type=int, default=defaults.batch_size, help="names per optimizer step")
    add("--lr", type=float, default=defaults.lr, help="Adam learning rate of the first epoch")
    add(
        "--lr-decay",
        type=float,
        default=defaults.lr_decay,
        help="factor applied to the learning rate at the start of each later epoch",
    )
    add("--clip", type=float, default=defaults.clip, help="gradient norm clip (0: off)")
    add(
        "--validation-fraction",
        type=float,
        default=defaults.validation_fraction,
        help="share of distinct names held out for validation",
    )
    add("--keep-duplicates", action="store_true", help="train on repeated names as often as listed")
    add(
        "--min-char-count",
        type=int,
        default=defaults.min_char_count,
        help="characters rarer than this are read as <unk>",
    )
    add("--seed", type=int, default=defaults.seed, help="seed for the split, order and weights")
    add("--device", choices=DEVICES, default=defaults.device, help="where to train")
    add(
        "--precision",
        choices=PRECISIONS,
        default=defaults.precision,
        help="bf16 runs matrix products in bfloat16 where the hardware supports it",
    )
    add("--out", default=defaults.out, help="checkpoint to write (best by validation)")
    add("--resume", metavar="PATH", help="continue the run saved at PATH (its .resume file)")
    add("--samples", type=int, default=defaults.samples, help="names to show after each epoch")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    options = TrainingOptions(
        **{name: getattr(args, name) for name in TrainingOptions.__dataclass_fields__}
    )
    if args.resume is None and not Path(options.data).is_file():
        print(
            f"error: no such file: {options.data}; " + DATASET_HINT.format(path=options.data),
            file=sys.stderr,
        )
        return 2
    try:
        with logging_redirect_tqdm():
            result = train(options, resume=args.resume)
    except (BandnameError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not result.interrupted:
        log.info(
            "done: best validation %.4f bits/char, model at %s",
            result.best_validation_bits_per_char,
            result.best_path,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
