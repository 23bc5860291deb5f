"""How good a model's raw samples are, temperature by temperature, in figures a reader can judge.

    python -m generator.quality [--checkpoint PATH] [--temperatures 0.5,0.8,1.0,1.2]
                                [--samples 1000] [--examples 20] [--data CSV] [--seed 0] [--json]

Samples are drawn without a prime and before the freshness filter, so the figures show what
the filter has to throw away: real bands, repeats, and names that never ended. The examples
are the first samples that pass the filter, as `/bandname` would show them. Each temperature
is sampled from its own generator seeded with `--seed`, so its figures do not depend on which
other temperatures are asked for.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import statistics
import sys
from dataclasses import asdict, dataclass

import torch

from generator.errors import BandnameError
from generator.name_generator import NameGenerator
from generator.names import freshness_key, load_names
from generator.request import GenerationRequest
from generator.sampling import sample_continuations

log = logging.getLogger(__name__)

DEFAULT_TEMPERATURES = "0.5,0.8,1.0,1.2"
DEFAULT_SAMPLES = 1000
DEFAULT_EXAMPLES = 20
# Rows sampled together: enough to share each step's matrix products, small enough that a
# batch's state stays a few megabytes with the full-size model.
SAMPLING_BATCH_ROWS = 250

# Characters that would turn a band name into markdown formatting in the example lists.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>|#~])")


@dataclass(frozen=True)
class TemperatureQuality:
    temperature: float
    samples: int
    real_band_share: float
    unique_share: float
    unended_share: float
    median_length: float | None
    examples: list[str]


def raw_samples(
    generator: NameGenerator, temperature: float, samples: int, seed: int
) -> list[str | None]:
    """`samples` unprimed names at one temperature, None where a name never ended."""
    device = generator.model.decoder.weight.device
    random_source = torch.Generator(device).manual_seed(seed)
    drawn: list[str | None] = []
    while len(drawn) < samples:
        rows = min(SAMPLING_BATCH_ROWS, samples - len(drawn))
        drawn += sample_continuations(
            generator.stepper,
            generator.vocabulary,
            [""] * rows,
            torch.full((rows,), temperature),
            random_source,
        )
    return drawn


def fresh_examples(generator: NameGenerator, names: list[str | None], count: int) -> list[str]:
    """The first `count` names the generator's freshness filter would let through."""
    examples: list[str] = []
    taken: set[str] = set()
    for name in names:
        if len(examples) == count:
            break
        if name is None:
            continue
        key = freshness_key(name)
        if key and key not in taken and name not in generator.known_names:
            taken.add(key)
            examples.append(name)
    return examples


def measure(
    generator: NameGenerator, temperature: float, samples: int, examples: int, seed: int
) -> TemperatureQuality:
    """The quality figures of `samples` raw samples at one temperature."""
    # trailing spaces are stripped as the generator strips them before showing a name
    names = [
        None if name is None else name.rstrip()
        for name in raw_samples(generator, temperature, samples, seed)
    ]
    ended = [name for name in names if name is not None]
    return TemperatureQuality(
        temperature=temperature,
        samples=samples,
        real_band_share=sum(name in generator.known_names for name in ended) / samples,
        unique_share=len({freshness_key(name) for name in ended}) / samples,
        unended_share=(samples - len(ended)) / samples,
        median_length=statistics.median(len(name) for name in ended) if ended else None,
        examples=fresh_examples(generator, names, examples),
    )


def parse_temperatures(text: str) -> list[float]:
    """'0.5,0.8' -> [0.5, 0.8], each checked against the range the generator accepts."""
    try:
        temperatures = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ValueError(
            f"temperatures must be numbers separated by commas, not {text!r}"
        ) from None
    if not temperatures:
        raise ValueError("give at least one temperature")
    for temperature in temperatures:
        GenerationRequest(temperature=temperature)
    return temperatures


def _percent(share: float) -> str:
    return f"{share:.1%}"


def _length(value: float | None) -> str:
    return "n/a" if value is None else f"{value:g}"


def to_markdown(results: list[TemperatureQuality], data_median_length: float | None) -> str:
    """A table of the figures, then one line of example names per temperature."""
    lines = [
        "| temperature | real bands | unique | never ended | median length | data median length |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for result in results:
        lines.append(
            f"| {result.temperature:g} | {_percent(result.real_band_share)} "
            f"| {_percent(result.unique_share)} | {_percent(result.unended_share)} "
            f"| {_length(result.median_length)} | {_length(data_median_length)} |"
        )
    for result in results:
        shown = " · ".join(_MARKDOWN_SPECIAL.sub(r"\\\1", name) for name in result.examples)
        lines += ["", f"**Temperature {result.temperature:g}:** {shown or '(none)'}"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Judge a model's raw samples: real bands, repeats, unended names, lengths."
    )
    parser.add_argument("--checkpoint", metavar="PATH", help="model file (default: shipped model)")
    parser.add_argument(
        "--temperatures",
        default=DEFAULT_TEMPERATURES,
        help="comma-separated temperatures (default: %(default)s)",
    )
    parser.add_argument(
        "--samples",
        type=int,
        default=DEFAULT_SAMPLES,
        help="raw samples per temperature (default: %(default)s)",
    )
    parser.add_argument(
        "--examples",
        type=int,
        default=DEFAULT_EXAMPLES,
        help="fresh example names shown per temperature (default: %(default)s)",
    )
    parser.add_argument("--data", metavar="CSV", help="names whose median length to compare with")
    parser.add_argument("--column", default="name", help="column of --data holding the names")
    parser.add_argument("--seed", type=int, default=0, help="seed of every temperature's samples")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        temperatures = parse_temperatures(args.temperatures)
        if args.samples < 1:
            raise ValueError(f"--samples must be at least 1, got {args.samples}")
        if args.examples < 0:
            raise ValueError(f"--examples must not be negative, got {args.examples}")
        data_median_length = None
        if args.data:
            data_median_length = statistics.median(
                len(name) for name in load_names(args.data, args.column)
            )
        generator = NameGenerator.load(args.checkpoint)
        results = []
        for temperature in temperatures:
            log.info("sampling %d names at temperature %g", args.samples, temperature)
            results.append(measure(generator, temperature, args.samples, args.examples, args.seed))
    except (BandnameError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

    if args.json:
        report = {
            "checkpoint": args.checkpoint,
            "seed": args.seed,
            "data_median_length": data_median_length,
            "temperatures": [asdict(result) for result in results],
        }
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(to_markdown(results, data_median_length))
    return 0


if __name__ == "__main__":
    sys.exit(main())
