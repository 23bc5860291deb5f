"""Sampling latency: NameGenerator.generate against a one-name, one-character-a-step sampler.

Both sample in process, after warm-up calls, with the same model, prime and temperature.
`generate` is what the bot calls: batched rows, retries, freshness filter. The baseline is
the plain way to sample: one name at a time, one character per step with a batch of one,
no filter. Both use the same prepared weights (generator.stepper), so the comparison
measures batching and early stopping, not a difference in kernels. Latencies are per
call, in milliseconds: median and 90th percentile.

    python -m bench.sample_speed                # the table, with the shipped model
    python -m bench.sample_speed --json         # one JSON object
    python -m bench.sample_speed --prime Grave --counts 10 --repeats 20
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from bench.data import benchmark_names
from bench.report import (
    describe_machine,
    format_table,
    goal,
    goal_lines,
    machine_line,
    run_benchmark,
)
from generator import DEFAULT_CHECKPOINT, NameGenerator
from generator.freshness import KnownNames
from generator.model import CharModel, ModelConfig
from generator.names import MAX_NAME_LENGTH
from generator.request import GenerationRequest
from generator.stepper import Stepper
from generator.vocab import END, START, Vocabulary

DEFAULT_PRIME = "Zombie"
DEFAULT_TEMPERATURE = 0.8
DEFAULT_COUNTS = "10,100"
PERCENTILE = 0.9
# the baseline is slow and has nothing to tune: one untimed call fills the caches
BASELINE_WARMUP_CALLS = 1

# What the benchmark lets us check: median ms of `generate` for n names, hidden 1024, a prime.
GOAL_HIDDEN_SIZE = 1024
GOAL_MEDIAN_MS = {10: 10.0, 100: 30.0}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--checkpoint",
        help="model to time (default: the shipped one; an untrained model if it is absent)",
    )
    parser.add_argument("--random-model", action="store_true", help="time an untrained model")
    parser.add_argument("--hidden-size", type=int, default=1024, help="untrained model only")
    parser.add_argument("--embedding-size", type=int, default=64, help="untrained model only")
    parser.add_argument("--data", help="names for the untrained model's vocabulary and filter")
    parser.add_argument("--prime", default=DEFAULT_PRIME, help="start of every name")
    parser.add_argument("--temperature", type=float, default=DEFAULT_TEMPERATURE)
    parser.add_argument("--counts", default=DEFAULT_COUNTS, help="names per call, comma-separated")
    parser.add_argument("--repeats", type=int, default=50, help="timed calls of generate")
    parser.add_argument("--baseline-repeats", type=int, default=5, help="timed baseline calls")
    parser.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument("--check", action="store_true", help="exit with 1 if a goal is missed")
    args = parser.parse_args(argv)

    if args.random_model and args.checkpoint:
        parser.error("give --checkpoint or --random-model, not both")
    for flag in ("repeats", "baseline_repeats", "hidden_size", "embedding_size"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.warmup < 0 or (args.threads is not None and args.threads < 1):
        parser.error("--warmup cannot be negative and --threads must be at least 1")
    try:
        args.counts = [int(count) for count in args.counts.split(",")]
        for count in args.counts:
            GenerationRequest(count, args.prime, args.temperature)
    except ValueError as error:
        parser.error(f"{error} (check --counts, --prime and --temperature)")
    return args


def load_generator(args: argparse.Namespace) -> tuple[NameGenerator, str, bool]:
    """The generator to time, a line saying where its model came from, and if it is untrained."""
    if args.checkpoint:
        return NameGenerator.load(args.checkpoint), args.checkpoint, False
    if not args.random_model and DEFAULT_CHECKPOINT.is_file():
        return NameGenerator.load(), str(DEFAULT_CHECKPOINT), False
    data = benchmark_names(args.data)
    vocabulary = Vocabulary.build(data.names)
    config = ModelConfig(
        len(vocabulary), embedding_size=args.embedding_size, hidden_size=args.hidden_size
    )
    reason = "as asked" if args.random_model else f"{DEFAULT_CHECKPOINT} is absent"
    source = (
        f"UNTRAINED model ({reason}), vocabulary from {data.source}; its names seldom end, "
        "so generate retries often and these times are pessimistic"
    )
    generator = NameGenerator(CharModel(config), vocabulary, KnownNames.from_names(data.names))
    return generator, source, True


@torch.inference_mode()
def naive_name(stepper: Stepper, vocabulary: Vocabulary, prime: str, temperature: float) -> str:
    """One name, one step a character; a name that never ends is cut at the limit."""
    state = stepper.initial_state(1)
    for token in [START, *vocabulary.encode(prime)]:
        logits, state = stepper.step(torch.tensor([token]), state)
    written = []
    for _ in range(max(MAX_NAME_LENGTH - len(prime), 0)):
        # the stepper's logits already rule out the symbols never written
        token = int(torch.multinomial(torch.softmax(logits / temperature, dim=1), 1))
        if token == END:
            break
        written.append(token)
        logits, state = stepper.step(torch.tensor([token]), state)
    return prime + vocabulary.decode(written)


@contextmanager
def shortfall_warnings_silenced(silenced: bool) -> Iterator[None]:
    """Hide the generator's "found only k of n fresh names" warnings while timing.

    An untrained model falls short on nearly every call; a warning per call would bury the
    table. A trained model keeps them, since there they say something.
    """
    logger = logging.getLogger(NameGenerator.__module__)
    previous = logger.level
    if silenced:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def naive_names(generator: NameGenerator, count: int, prime: str, temperature: float) -> list:
    return [
        naive_name(generator.stepper, generator.vocabulary, prime, temperature)
        for _ in range(count)
    ]


def time_calls(call: Callable[[], object], warmup: int, repeats: int) -> list[float]:
    """Milliseconds of each of `repeats` calls, after `warmup` untimed ones."""
    for _ in range(warmup):
        call()
    milliseconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        milliseconds.append((time.perf_counter() - started) * 1000)
    return milliseconds


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value at or above `fraction` of the values."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def summary(milliseconds: list[float]) -> dict:
    return {
        "median_ms": statistics.median(milliseconds),
        "p90_ms": percentile(milliseconds, PERCENTILE),
        "calls": len(milliseconds),
    }


def time_samplers(args: argparse.Namespace, generator: NameGenerator) -> dict[str, dict]:
    """Median and p90 milliseconds of both samplers for each count, keyed by count."""
    prime, temperature = args.prime, args.temperature
    results: dict[str, dict[str, dict]] = {"generate": {}, "generate_new_prime": {}, "naive": {}}

    def generate_forgetting_primes(count: int) -> list[str]:
        generator.prime_states.clear()  # as if no one had asked for this prime before
        return generator.generate(count, prime=prime, temperature=temperature)

    for count in args.counts:
        print(f"timing {count} names ...", file=sys.stderr, flush=True)
        ours = time_calls(
            lambda count=count: generator.generate(count, prime=prime, temperature=temperature),
            args.warmup,
            args.repeats,
        )
        new_prime = time_calls(
            lambda count=count: generate_forgetting_primes(count), args.warmup, args.repeats
        )
        naive = time_calls(
            lambda count=count: naive_names(generator, count, prime, temperature),
            min(args.warmup, BASELINE_WARMUP_CALLS),
            args.baseline_repeats,
        )
        speedup = statistics.median(naive) / statistics.median(ours)
        results["generate"][str(count)] = summary(ours) | {"x_vs_naive": speedup}
        results["generate_new_prime"][str(count)] = summary(new_prime) | {
            "x_vs_naive": statistics.median(naive) / statistics.median(new_prime)
        }
        results["naive"][str(count)] = summary(naive)
    return results


def run(args: argparse.Namespace) -> dict:
    """Time both samplers for each count; everything the table and --json show."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator, source, untrained = load_generator(args)
    prime, temperature = args.prime, args.temperature

    with shortfall_warnings_silenced(untrained):
        results = time_samplers(args, generator)

    config = generator.model.config
    return {
        "benchmark": "sample_speed",
        "machine": describe_machine(),
        "model": {
            "source": source,
            "untrained": untrained,
            "cell": config.cell,
            "hidden_size": config.hidden_size,
            "embedding_size": config.embedding_size,
            "vocabulary": config.vocab_size,
        },
        "settings": {
            "prime": prime,
            "temperature": temperature,
            "counts": args.counts,
            "repeats": args.repeats,
            "baseline_repeats": args.baseline_repeats,
            "warmup": args.warmup,
        },
        "results": results,
        "goals": _goals(results),
        "goal_settings_match": (
            config.hidden_size == GOAL_HIDDEN_SIZE and not untrained and prime != ""
        ),
    }


def _goals(results: dict[str, dict[str, dict]]) -> list[dict]:
    """The goals, checked both with the prime remembered from earlier calls and read anew."""
    goals = []
    for sampler, wording in (
        ("generate", "prime seen before"),
        ("generate_new_prime", "new prime"),
    ):
        for count, limit in GOAL_MEDIAN_MS.items():
            if str(count) in results[sampler]:
                median = results[sampler][str(count)]["median_ms"]
                name = f"generate {count} names ({wording}) median <= {limit:g} ms"
                goals.append(goal(name, median, median <= limit))
    return goals


def render(report: dict) -> str:
    rows = []
    for count, ours in report["results"]["generate"].items():
        naive = report["results"]["naive"][count]
        rows.append(
            [
                "NameGenerator.generate",
                count,
                f"{ours['median_ms']:.1f}",
                f"{ours['p90_ms']:.1f}",
                str(ours["calls"]),
                f"{ours['x_vs_naive']:.1f}x",
            ]
        )
        fresh = report["results"]["generate_new_prime"][count]
        rows.append(
            [
                "generate, prime read anew",
                count,
                f"{fresh['median_ms']:.1f}",
                f"{fresh['p90_ms']:.1f}",
                str(fresh["calls"]),
                f"{fresh['x_vs_naive']:.1f}x",
            ]
        )
        rows.append(
            [
                "naive, one name at a time",
                count,
                f"{naive['median_ms']:.1f}",
                f"{naive['p90_ms']:.1f}",
                str(naive["calls"]),
                "1.0x",
            ]
        )
    model, settings = report["model"], report["settings"]
    lines = [
        machine_line(report["machine"]),
        f"model: {model['source']}",
        f"       {model['cell']}, hidden {model['hidden_size']}, "
        f"embedding {model['embedding_size']}, {model['vocabulary']} symbols",
        f"prime {settings['prime']!r}, temperature {settings['temperature']:g}, "
        f"{settings['warmup']} warm-up calls",
        "",
        format_table(["sampler", "names", "median ms", "p90 ms", "calls", "x vs naive"], rows),
        "",
        *goal_lines(report["goals"]),
    ]
    if not report["goal_settings_match"]:
        lines.append("(the goals are set for the trained hidden-1024 model with a prime)")
    return "\n".join(lines).rstrip()


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(parse_args(argv), run, render)


if __name__ == "__main__":
    sys.exit(main())
