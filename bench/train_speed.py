"""Training throughput, side by side on the same batches: MI-LSTM, torch.nn.LSTM, the seed loop.

Every contender trains on the batches the real training builds (length-bucketed, from one
epoch plan) with the real step: summed nats over predicted symbols, Adam, gradient clipping.
The figure is predicted symbols (characters plus end symbols) per second of wall time over
--steps timed steps, after --warmup untimed ones and one untimed pass over the timed batches
themselves: bfloat16 products on the CPU go through oneDNN, which compiles kernels for every
new shape it meets (about 5 ms each), once in a real run, where the shapes of the first
epoch's batches recur in every later one. `--cold` leaves that pass out and times the
compiling too. The seed loop trains one name per step, so it is timed on --seed-names names
spread over the same timed batches instead.
Everything runs on the CPU; on a machine shared with other jobs, pass --threads 1 (or fewer
threads than idle cores), since oversubscribed threads make every figure meaningless.

    python -m bench.train_speed                 # the table
    python -m bench.train_speed --json          # one JSON object
    python -m bench.train_speed --only milstm,lstm --steps 10
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass

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
from bench.seed_loop import SeedCharModel, time_seed_loop
from generator.batches import Batch, collate, encode_names, epoch_plan
from generator.devices import autocast, check_precision, keep_freed_memory
from generator.errors import BandnameError
from generator.model import CharModel, ModelConfig
from generator.options import TrainingOptions
from generator.scoring import batch_nats
from generator.trainer import adam, clip_gradients
from generator.vocab import Vocabulary

# learning rate and gradient clip as the real training has them by default
TRAINING_DEFAULTS = TrainingOptions()
CPU = torch.device("cpu")

SEED_CELL = "seed"
# the seed loop warms up on a couple of names: it has no kernels to tune, only caches to fill
SEED_WARMUP_NAMES = 2


@dataclass(frozen=True)
class Contender:
    name: str
    cell: str  # "milstm", "lstm", or SEED_CELL for the seed's loop
    precision: str


CONTENDERS = (
    Contender("milstm", "milstm", "fp32"),
    Contender("lstm", "lstm", "fp32"),
    Contender("milstm-bf16", "milstm", "bf16"),
    Contender("lstm-bf16", "lstm", "bf16"),
    Contender("seed-loop", SEED_CELL, "fp32"),
)
REFERENCE_LSTM = "lstm"
REFERENCE_SEED = "seed-loop"

# What the benchmark lets us check, at hidden 1024 and embedding 64 on two cores.
GOAL_SETTINGS = {"hidden_size": 1024, "embedding_size": 64}
GOAL_VS_LSTM = 1.0
GOAL_VS_SEED = 20.0
GOAL_BF16_SPEEDUP = 2.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    names = ", ".join(contender.name for contender in CONTENDERS)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", help="CSV of names (default: ../shared/data/bands.csv if present)"
    )
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps before timing")
    parser.add_argument(
        "--cold",
        action="store_true",
        help="skip the untimed pass over the timed batches: time each shape's first meeting",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="names per batch")
    parser.add_argument("--hidden-size", type=int, default=1024, help="recurrent units")
    parser.add_argument("--embedding-size", type=int, default=64, help="character embedding")
    parser.add_argument("--seed-names", type=int, default=30, help="names timed for the seed loop")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--seed", type=int, default=0, help="random seed for plan and weights")
    parser.add_argument("--only", help=f"comma-separated subset of: {names}")
    parser.add_argument("--json", action="store_true", help="print one JSON object, no table")
    parser.add_argument("--check", action="store_true", help="exit with 1 if a goal is missed")
    args = parser.parse_args(argv)
    for flag in ("steps", "batch_size", "hidden_size", "embedding_size", "seed_names"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag.replace('_', '-')} must be at least 1")
    if args.warmup < 0:
        parser.error("--warmup cannot be negative")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    args.contenders = _chosen_contenders(parser, args.only)
    return args


def _chosen_contenders(parser: argparse.ArgumentParser, only: str | None) -> list[Contender]:
    if only is None:
        return list(CONTENDERS)
    by_name = {contender.name: contender for contender in CONTENDERS}
    wanted = [name.strip() for name in only.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in by_name]
    if unknown or not wanted:
        parser.error(f"--only takes names among {', '.join(by_name)}; got {only!r}")
    return [by_name[name] for name in wanted]


def benchmark_plan(lengths: list[int], batch_size: int, count: int, seed: int) -> list[list[int]]:
    """The first `count` batches, as name indices, that training would see (past one epoch)."""
    plan: list[list[int]] = []
    epoch = 1
    while len(plan) < count:
        plan += epoch_plan(lengths, batch_size, seed, epoch)[: count - len(plan)]
        epoch += 1
    return plan


def spread_sample(items: list, count: int) -> list:
    """`count` items taken at even intervals, so short and long names both get their share."""
    stride = max(1, len(items) // count)
    return items[::stride][:count]


def train_step(
    model: CharModel, optimizer: torch.optim.Optimizer, batch: Batch, precision: str
) -> float:
    """The real training step: mean nats per symbol, backward, clip, Adam."""
    with autocast(precision, CPU):
        nats = batch_nats(model, batch).sum()
    loss = nats / batch.symbols
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    clip_gradients(list(model.parameters()), TRAINING_DEFAULTS.clip)
    optimizer.step()
    return loss.item()


def time_batched(
    contenders: list[tuple[str, ModelConfig]],
    warmup: list[Batch],
    timed: list[Batch],
    rehearse: bool = True,
) -> dict[str, tuple[int, float]]:
    """Train a fresh model per contender on the warm-up batches (and, with `rehearse`, on
    the timed ones), then time them all on the timed batches, taking turns batch by batch: a
    machine that speeds up or slows down while the benchmark runs (other work, clock
    changes) then weighs on every contender alike.

    Returns each contender's (symbols, seconds) over the timed batches.
    """
    trainers = {}
    for precision, config in contenders:
        model = CharModel(config)
        optimizer = adam(model.parameters(), TRAINING_DEFAULTS.lr)
        for batch in warmup + (timed if rehearse else []):
            train_step(model, optimizer, batch, precision)
        trainers[(precision, config)] = (model, optimizer)

    seconds = dict.fromkeys(trainers, 0.0)
    order = list(trainers)
    for step, batch in enumerate(timed):
        # each contender goes first in turn, so none always runs on another's warm caches
        for key in order[step % len(order) :] + order[: step % len(order)]:
            model, optimizer = trainers[key]
            started = time.perf_counter()
            train_step(model, optimizer, batch, key[0])
            seconds[key] += time.perf_counter() - started
    symbols = sum(batch.symbols for batch in timed)
    return {key: (symbols, seconds[key]) for key in trainers}


def time_seed(
    args: argparse.Namespace, vocab_size: int, sequences: list[list[int]], plan: list[list[int]]
) -> tuple[int, float]:
    """Time the seed loop on names spread over the timed batches, after a short warm-up."""
    warmup_names = [sequences[index] for indices in plan[: args.warmup] for index in indices]
    timed_names = [sequences[index] for indices in plan[args.warmup :] for index in indices]
    model = SeedCharModel(vocab_size, args.embedding_size, args.hidden_size)
    # the seed's own optimizer, PyTorch's default Adam
    optimizer = torch.optim.Adam(model.parameters(), lr=TRAINING_DEFAULTS.lr)
    return time_seed_loop(
        model,
        optimizer,
        warmup_names[:SEED_WARMUP_NAMES],
        spread_sample(timed_names, args.seed_names),
    )


def run(args: argparse.Namespace) -> dict:
    """Measure the chosen contenders; everything the table and --json show."""
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as train.py does, for every contender alike
    data = benchmark_names(args.data)
    vocabulary = Vocabulary.build(data.names)
    sequences = encode_names(data.names, vocabulary)
    lengths = [len(sequence) for sequence in sequences]
    plan = benchmark_plan(lengths, args.batch_size, args.warmup + args.steps, args.seed)
    batches = [collate([sequences[index] for index in indices]) for indices in plan]

    measured, skipped = {}, {}
    batched = []
    for contender in args.contenders:
        try:
            check_precision(contender.precision, CPU)
        except BandnameError as error:
            skipped[contender.name] = str(error)
            continue
        if contender.cell == SEED_CELL:
            print(f"timing {contender.name} ...", file=sys.stderr, flush=True)
            torch.manual_seed(args.seed)
            measured[contender] = time_seed(args, len(vocabulary), sequences, plan)
        else:
            batched.append(contender)
    if batched:
        names = ", ".join(contender.name for contender in batched)
        print(f"timing {names}, taking turns ...", file=sys.stderr, flush=True)
        torch.manual_seed(args.seed)
        configs = {
            contender: ModelConfig(
                len(vocabulary), contender.cell, args.embedding_size, args.hidden_size
            )
            for contender in batched
        }
        timings = time_batched(
            [(contender.precision, configs[contender]) for contender in batched],
            batches[: args.warmup],
            batches[args.warmup :],
            rehearse=not args.cold,
        )
        for contender in batched:
            measured[contender] = timings[(contender.precision, configs[contender])]

    results = {}
    for contender in args.contenders:
        if contender in measured:
            symbols, seconds = measured[contender]
            results[contender.name] = {
                "cell": contender.cell,
                "precision": contender.precision,
                "symbols": symbols,
                "seconds": seconds,
                "chars_per_s": symbols / seconds,
            }
    _add_ratios(results)

    settings = {
        key: getattr(args, key)
        for key in ("steps", "warmup", "batch_size", "hidden_size", "embedding_size")
    }
    settings |= {"seed_names": args.seed_names, "seed": args.seed, "cold": args.cold}
    return {
        "benchmark": "train_speed",
        "machine": describe_machine(),
        "data": {"source": data.source, "names": len(data.names), "vocabulary": len(vocabulary)},
        "settings": settings,
        "results": results,
        "skipped": skipped,
        "goals": _goals(results),
        "goal_settings": GOAL_SETTINGS,
        "goal_settings_match": all(settings[key] == GOAL_SETTINGS[key] for key in GOAL_SETTINGS),
    }


def _add_ratios(results: dict) -> None:
    for reference, key in ((REFERENCE_LSTM, "x_vs_lstm"), (REFERENCE_SEED, "x_vs_seed_loop")):
        for result in results.values():
            result[key] = (
                result["chars_per_s"] / results[reference]["chars_per_s"]
                if reference in results
                else None
            )


def _goals(results: dict) -> list[dict]:
    """The speed goals whose contenders were all measured in this run."""
    checks = (
        ("milstm", REFERENCE_LSTM, GOAL_VS_LSTM, "MI-LSTM fp32 vs nn.LSTM fp32"),
        ("milstm", REFERENCE_SEED, GOAL_VS_SEED, "MI-LSTM fp32 vs seed loop"),
        ("milstm-bf16", "milstm", GOAL_BF16_SPEEDUP, "MI-LSTM bf16 vs MI-LSTM fp32"),
    )
    goals = []
    for faster, slower, at_least, description in checks:
        if faster in results and slower in results:
            ratio = results[faster]["chars_per_s"] / results[slower]["chars_per_s"]
            goals.append(goal(f"{description} >= {at_least:g}x", ratio, ratio >= at_least))
    return goals


def render(report: dict) -> str:
    def times(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}x"

    rows = [
        [
            name,
            f"{result['chars_per_s']:,.0f}",
            times(result["x_vs_lstm"]),
            times(result["x_vs_seed_loop"]),
        ]
        for name, result in report["results"].items()
    ]
    rows += [[name, "skipped", "-", "-"] for name in report["skipped"]]
    settings = report["settings"]
    rehearsal = (
        "and none over the timed batches (--cold)"
        if settings["cold"]
        else "and one untimed pass over the timed batches"
    )
    lines = [
        machine_line(report["machine"]),
        f"data: {report['data']['source']} ({report['data']['names']} names, "
        f"{report['data']['vocabulary']} symbols)",
        f"settings: hidden {settings['hidden_size']}, embedding {settings['embedding_size']}, "
        f"batch {settings['batch_size']}, {settings['steps']} timed steps after "
        f"{settings['warmup']} warm-up {rehearsal}; seed loop on {settings['seed_names']} names",
        "",
        format_table(["contender", "chars/s", "x vs nn.LSTM fp32", "x vs seed loop"], rows),
        "",
        *(f"skipped {name}: {reason}" for name, reason in report["skipped"].items()),
        *goal_lines(report["goals"]),
    ]
    if not report["goal_settings_match"]:
        lines.append("(the goals are set for hidden 1024, embedding 64: these figures only hint)")
    return "\n".join(lines).rstrip()


def main(argv: list[str] | None = None) -> int:
    return run_benchmark(parse_args(argv), run, render)


if __name__ == "__main__":
    sys.exit(main())
