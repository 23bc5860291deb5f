"""Train a bandname model: `python train.py --help` lists the options.

The defaults reproduce the seed experiment (MI-LSTM, hidden 1024, embedding 64, Adam at
5e-4 for 3 epochs, the rate quartered at each new epoch) on data/bands.csv.
"""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path

from tqdm.contrib.logging import logging_redirect_tqdm

from generator.devices import DEVICES, PRECISIONS
from generator.errors import BandnameError
from generator.model import CELLS
from generator.options import TrainingOptions
from generator.training import train

log = logging.getLogger("train")

DATASET_HINT = (
    'download bands.csv from the Kaggle dataset "death-metal" '
    "(kaggle.com/datasets/zhangjuefei/death-metal) and put it at {path}, or pass --data PATH"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the flags; the namespace holds only those given, so a resumed run can tell."""
    defaults = TrainingOptions()
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], argument_default=argparse.SUPPRESS
    )

    def add(flag: str, help: str, **settings) -> None:
        field = flag.removeprefix("--").replace("-", "_")
        if hasattr(defaults, field) and settings.get("action") != "store_true":
            help = f"{help} (default: {getattr(defaults, field)})"
        parser.add_argument(flag, help=help, **settings)

    add("--data", "CSV of band names")
    add("--column", "column holding the names")
    add("--cell", "recurrent cell", choices=CELLS)
    add("--hidden-size", "recurrent units", type=int)
    add("--embedding-size", "size of the character embedding", type=int)
    add("--dropout", "dropout on embeddings and recurrent outputs", type=float)
    add("--weight-drop", "share of recurrent weights dropped in each step", type=float)
    add("--layer-norm", "layer-normalize U h in the MI-LSTM's gates", action="store_true")
    add(
        "--average-decay",
        "validate and save a moving average of the weights with this decay (0 for none)",
        type=float,
    )
    add("--epochs", "passes over the training names", type=int)
    add("--batch-size", "names per optimizer step", type=int)
    add("--lr", "Adam learning rate of the first epoch", type=float)
    add("--lr-decay", "factor applied to the learning rate at each later epoch", type=float)
    add("--clip", "gradient norm clip, 0 for none", type=float)
    add("--validation-fraction", "share of distinct names held out for validation", type=float)
    add("--keep-duplicates", "train on repeated names as often as listed", action="store_true")
    add("--min-char-count", "characters rarer than this are read as <unk>", type=int)
    add("--seed", "seed for the weights, the batch order and dropout", type=int)
    add("--split-seed", "seed for which names are held out for validation", type=int)
    add("--device", "where to train", choices=DEVICES)
    add("--precision", "bf16 runs matrix products in bfloat16 where supported", choices=PRECISIONS)
    add("--out", "checkpoint to write: the best model by validation")
    add("--resume", "continue the run saved at PATH (its .resume file)", metavar="PATH")
    add("--samples", "names to show after each epoch", type=int)
    add("--genre-column", "column of genre strings for style tags; '' trains without")
    add("--tag-dropout", "share of names trained with their style tags hidden", type=float)
    add(
        "--ngram-targets",
        "weight W of a held-out 7-gram's predictions in the targets: each is "
        "(1 - W) the true symbol + W what a 7-gram of the other names expects",
        type=float,
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    given = vars(parse_args(argv))
    resume = given.pop("resume", None)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    options = replace(TrainingOptions(), **given)
    if resume is None and not Path(options.data).is_file():
        print(
            f"error: no such file: {options.data}; " + DATASET_HINT.format(path=options.data),
            file=sys.stderr,
        )
        return 2
    try:
        with logging_redirect_tqdm():
            if resume is None:
                result = train(options)
            else:
                result = train(None, resume=resume, resume_changes=given)
    except (BandnameError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if not result.interrupted and result.best_validation_bits_per_char is not None:
        log.info(
            "done: best validation %.4f bits/char, model at %s",
            result.best_validation_bits_per_char,
            result.best_path,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
