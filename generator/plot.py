"""Training runs side by side: loss per step on the left, validation per epoch on the right.

    python -m generator.plot RUN [RUN ...] [--label NAME ...] [--out runs.png] [--smooth 20]

A RUN is a history file written by training (`<out>.history.json`) or the checkpoint it sits
next to. Runs given the same label are one group, for instance one setting trained with
several seeds: the right panel draws the group's mean validation curve inside a band from
its lowest to its highest run. Needs matplotlib: pip install -e ".[plot]".
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from generator.errors import BandnameError
from generator.history import History
from generator.options import companion_paths

DEFAULT_SMOOTHING_STEPS = 20
HISTORY_SUFFIX = ".history.json"

# The raw loss is drawn faintly behind its running mean, and a group's band lighter still,
# so that the curves being compared stay the strongest marks on the figure.
RAW_CURVE_ALPHA = 0.2
BAND_ALPHA = 0.2
FIGURE_SIZE_INCHES = (12, 4.5)
FIGURE_DPI = 120

MATPLOTLIB_MISSING = 'matplotlib is not installed; install it with: pip install -e ".[plot]"'


@dataclass(frozen=True)
class Run:
    label: str
    steps: list[int]
    step_bits_per_char: list[float]
    epochs: list[int]
    validation_bits_per_char: list[float]


@dataclass(frozen=True)
class GroupedValidation:
    """A label's validation curve: per epoch, the mean, lowest and highest over its runs."""

    label: str
    runs: int
    epochs: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]


def history_path(path: str | Path) -> Path:
    """The history file of a run, given either that file or the run's checkpoint."""
    path = Path(path)
    if path.name.endswith(".json"):
        return path
    return companion_paths(path)[1]


def default_label(path: Path) -> str:
    """The run's name: `bandname` for both bandname.history.json and bandname.safetensors."""
    if path.name.endswith(HISTORY_SUFFIX):
        return path.name[: -len(HISTORY_SUFFIX)]
    return path.stem


def read_run(path: str | Path, label: str | None = None) -> Run:
    """Read a training history, raising BandnameError when it is missing or not one."""
    path = history_path(path)
    try:
        history = History.read(path)
    except FileNotFoundError:
        raise BandnameError(f"no such history file: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BandnameError(f"{path} is not a JSON file") from None
    except OSError as error:
        raise BandnameError(f"cannot read {path}: {error.strerror}") from None
    except (KeyError, TypeError):
        raise BandnameError(f"{path} is not a training history (no steps and epochs)") from None

    try:
        steps = [int(entry["step"]) for entry in history.steps]
        step_bits = [float(entry["bits_per_char"]) for entry in history.steps]
        epochs = [int(entry["epoch"]) for entry in history.epochs]
        validation_bits = [float(entry["validation_bits_per_char"]) for entry in history.epochs]
    except (KeyError, TypeError, ValueError):
        raise BandnameError(f"{path} is not a training history (malformed entries)") from None
    return Run(label or default_label(path), steps, step_bits, epochs, validation_bits)


def running_mean(values: list[float], window: int) -> list[float]:
    """Mean of each value and the `window - 1` before it (fewer at the start of the curve)."""
    means = []
    total = 0.0
    for index, value in enumerate(values):
        total += value
        if index >= window:
            total -= values[index - window]
        means.append(total / min(index + 1, window))
    return means


def group_validation(runs: list[Run]) -> list[GroupedValidation]:
    """One validation curve per label, in the order the labels first appear.

    Each epoch is summarized over the runs that reached it, so a group whose runs are still
    training shows its later epochs from fewer seeds; the band narrows to a line where only
    one run is left.
    """
    by_label: dict[str, list[Run]] = {}
    for run in runs:
        by_label.setdefault(run.label, []).append(run)

    groups = []
    for label, members in by_label.items():
        per_epoch: dict[int, list[float]] = {}
        for run in members:
            for epoch, bits in zip(run.epochs, run.validation_bits_per_char, strict=True):
                per_epoch.setdefault(epoch, []).append(bits)
        epochs = sorted(per_epoch)
        groups.append(
            GroupedValidation(
                label=label,
                runs=len(members),
                epochs=epochs,
                mean=[math.fsum(per_epoch[epoch]) / len(per_epoch[epoch]) for epoch in epochs],
                low=[min(per_epoch[epoch]) for epoch in epochs],
                high=[max(per_epoch[epoch]) for epoch in epochs],
            )
        )
    return groups


def _pyplot():
    """matplotlib's pyplot on the Agg backend, which draws to files and needs no display."""
    try:
        import matplotlib
    except ImportError:
        raise BandnameError(MATPLOTLIB_MISSING) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    return pyplot


def draw(
    runs: list[Run], out: str | Path, smooth: int, title: str | None = None, raw: bool = True
) -> None:
    """Write the two-panel figure of these runs to a PNG file; `raw` adds the unsmoothed
    loss of every step behind the running means."""
    pyplot = _pyplot()
    figure, (loss_axes, validation_axes) = pyplot.subplots(
        1, 2, figsize=FIGURE_SIZE_INCHES, dpi=FIGURE_DPI
    )
    groups = group_validation(runs)
    colours = pyplot.rcParams["axes.prop_cycle"].by_key()["color"]
    colour_of = {group.label: colours[index % len(colours)] for index, group in enumerate(groups)}

    for run in runs:
        colour = colour_of[run.label]
        if raw:
            loss_axes.plot(run.steps, run.step_bits_per_char, color=colour, alpha=RAW_CURVE_ALPHA)
        loss_axes.plot(run.steps, running_mean(run.step_bits_per_char, smooth), color=colour)
    loss_axes.set_title(f"training loss (running mean over {smooth} steps)")
    loss_axes.set_xlabel("step")
    loss_axes.set_ylabel("bits per character")

    for group in groups:
        colour = colour_of[group.label]
        label = group.label if group.runs == 1 else f"{group.label} ({group.runs} runs)"
        validation_axes.plot(group.epochs, group.mean, marker="o", color=colour, label=label)
        if group.runs > 1:
            validation_axes.fill_between(
                group.epochs, group.low, group.high, color=colour, alpha=BAND_ALPHA
            )
    validation_axes.set_title("validation")
    validation_axes.set_xlabel("epoch")
    validation_axes.xaxis.set_major_locator(pyplot.MaxNLocator(integer=True))
    validation_axes.set_ylabel("bits per character")
    validation_axes.legend()

    if title:
        figure.suptitle(title)
    figure.tight_layout()
    try:
        figure.savefig(out, format="png")
    except OSError as error:
        raise BandnameError(f"cannot write {out}: {error.strerror}") from None
    finally:
        pyplot.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Plot training runs: loss per step and validation bits/char per epoch."
    )
    parser.add_argument(
        "runs", nargs="+", metavar="RUN", help="history file (.history.json) or its checkpoint"
    )
    parser.add_argument(
        "--label",
        action="append",
        metavar="NAME",
        help="name of a run, once per RUN in order; runs with the same name are grouped "
        "(default: the file's name)",
    )
    parser.add_argument("--out", default="runs.png", help="PNG to write (default: %(default)s)")
    parser.add_argument("--title", help="title above both panels")
    parser.add_argument(
        "--smooth",
        type=int,
        default=DEFAULT_SMOOTHING_STEPS,
        help="steps in the running mean of the training loss (default: %(default)s)",
    )
    parser.add_argument(
        "--no-raw",
        action="store_true",
        help="draw only the running means of the loss, clearer when there are many runs",
    )
    args = parser.parse_args(argv)
    try:
        if args.smooth < 1:
            raise BandnameError(f"--smooth must be at least 1, got {args.smooth}")
        labels = args.label or [None] * len(args.runs)
        if len(labels) != len(args.runs):
            raise BandnameError(
                f"give one --label per run or none: {len(args.runs)} runs, {len(labels)} labels"
            )
        runs = [read_run(path, label) for path, label in zip(args.runs, labels, strict=True)]
        draw(runs, args.out, args.smooth, args.title, raw=not args.no_raw)
    except BandnameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
