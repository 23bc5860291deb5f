"""LSTM against MI-LSTM: the same settings, several seeds, mean and spread of validation.

    python -m generator.study --data bands.csv --setting seed [--seeds 0,1,2] [--json]

Each (setting, cell, seed) run trains with train.py's machinery into --runs-dir, and a run
whose history already holds all its epochs is read back instead of trained again, so an
interrupted study continues where it stopped and a table can be reprinted for free. Every
run holds out the same names (--split-seed 0): the seeds change the weights, the batch order
and the dropout masks, not what is validated on. Draw the runs with
  python -m generator.plot RUNS_DIR/SETTING-*.history.json --label ... (the study prints it)
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from generator.checkpoint import load_checkpoint
from generator.errors import BandnameError
from generator.history import History
from generator.model import CELLS
from generator.options import TrainingOptions, companion_paths

log = logging.getLogger(__name__)

# The seed blog's experiment is TrainingOptions' defaults. The tuned setting is the shipped
# model's recipe (a higher, slowly decaying rate, dropout, more epochs) at hidden size 512,
# where a run takes minutes instead of a quarter of an hour.
SETTINGS = {
    "seed": {},
    "tuned": dict(hidden_size=512, lr=0.002, lr_decay=0.8, epochs=12, dropout=0.35),
}


@dataclass(frozen=True)
class RunFigure:
    cell: str
    seed: int
    best_validation_bits_per_char: float
    best_epoch: int
    parameters: int


def run_options(data: str, setting: str, cell: str, seed: int, runs_dir: Path) -> TrainingOptions:
    out = runs_dir / f"{setting}-{cell}-s{seed}.safetensors"
    return replace(
        TrainingOptions(),
        data=data,
        cell=cell,
        seed=seed,
        split_seed=0,
        out=str(out),
        samples=0,
        **SETTINGS[setting],
    )


def finished_figure(options: TrainingOptions) -> RunFigure | None:
    """The run's figure if its history holds every epoch, else None (run it)."""
    history_path = companion_paths(options.out)[1]
    if not history_path.is_file():
        return None
    epochs = History.read(history_path).epochs
    if len(epochs) < options.epochs:
        return None
    best = min(epochs, key=lambda epoch: epoch["validation_bits_per_char"])
    parameters = sum(t.numel() for t in load_checkpoint(options.out).weights.values())
    return RunFigure(
        options.cell, options.seed, best["validation_bits_per_char"], best["epoch"], parameters
    )


def run_study(
    data: str, setting: str, seeds: list[int], runs_dir: Path, cells: tuple[str, ...] = CELLS
) -> list[RunFigure]:
    from generator.training import train  # the trainer's imports are only needed here

    figures = []
    for cell in cells:
        for seed in seeds:
            options = run_options(data, setting, cell, seed, runs_dir)
            figure = finished_figure(options)
            if figure is None:
                log.info("training %s, %s cell, seed %d -> %s", setting, cell, seed, options.out)
                result = train(options)
                if result.interrupted:
                    raise KeyboardInterrupt
                figure = finished_figure(options)
            else:
                log.info("%s already trained: reading its history", options.out)
            figures.append(figure)
    return figures


def summarize(figures: list[RunFigure]) -> dict[str, dict]:
    """Per cell: the mean, the standard deviation and each seed's best validation."""
    summary = {}
    for cell in dict.fromkeys(f.cell for f in figures):
        values = [f.best_validation_bits_per_char for f in figures if f.cell == cell]
        summary[cell] = {
            "parameters": next(f.parameters for f in figures if f.cell == cell),
            "mean": statistics.fmean(values),
            "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
            "runs": {f.seed: f.best_validation_bits_per_char for f in figures if f.cell == cell},
            "best_epochs": {f.seed: f.best_epoch for f in figures if f.cell == cell},
        }
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Compare LSTM and MI-LSTM over several seeds.")
    parser.add_argument("--data", default=TrainingOptions.data, help="CSV of band names")
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="seed")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument(
        "--cells",
        default=",".join(CELLS),
        help="comma-separated cells; two processes can train one cell each, side by side",
    )
    parser.add_argument("--runs-dir", default="runs/study", help="where the runs are written")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        seeds = [int(seed) for seed in args.seeds.split(",")]
    except ValueError:
        parser.error(f"--seeds takes comma-separated integers, not {args.seeds!r}")
    cells = tuple(args.cells.split(","))
    unknown = set(cells) - set(CELLS)
    if unknown:
        parser.error(f"unknown cell {sorted(unknown)[0]!r}; choose from {', '.join(CELLS)}")
    runs_dir = Path(args.runs_dir)
    try:
        figures = run_study(args.data, args.setting, seeds, runs_dir, cells)
    except BandnameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: run the same command again to continue", file=sys.stderr)
        return 130
    summary = summarize(figures)
    settings = SETTINGS[args.setting]
    if args.json:
        print(json.dumps({"setting": args.setting, "settings": settings, "cells": summary}))
        return 0
    print(f"setting {args.setting!r}: {settings or 'train.py defaults'}")
    seed_columns = " | ".join(f"seed {s}" for s in seeds)
    print(f"| cell | parameters | mean ± stdev (bits/char) | {seed_columns} |")
    print("|---|---:|---|" + "---:|" * len(seeds))
    for cell, figure in summary.items():
        per_seed = " | ".join(f"{figure['runs'][s]:.4f}" for s in seeds)
        spread = f"{figure['mean']:.4f} ± {figure['stdev']:.4f}"
        print(f"| {cell} | {figure['parameters']:,} | {spread} | {per_seed} |")
    histories = [
        str(companion_paths(run_options(args.data, args.setting, c, s, runs_dir).out)[1])
        for c in cells
        for s in seeds
    ]
    labels = [f"--label {c}" for c in cells for _ in seeds]
    print("plot: python -m generator.plot " + " ".join(histories) + " " + " ".join(labels))
    return 0


if __name__ == "__main__":
    sys.exit(main())
