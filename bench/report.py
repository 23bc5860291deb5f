"""What every benchmark prints besides its figures: the machine, the table, the goals."""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path

import torch

from generator.errors import BandnameError

CPUINFO = Path("/proc/cpuinfo")


def cpu_model() -> str:
    """The CPU's model name as the kernel reports it, or the platform's best guess."""
    if CPUINFO.is_file():
        for line in CPUINFO.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def describe_machine() -> dict:
    return {
        "cpu": cpu_model(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def machine_line(machine: dict) -> str:
    return (
        f"machine: {machine['cpu']} | {machine['threads']} threads | "
        f"torch {machine['torch']} | Python {machine['python']}"
    )


def format_table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain-text table with a ruled header; the first column left-aligned, the rest right."""
    widths = [max(len(row[i]) for row in [headers, *rows]) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True)]
        return " | ".join([first, *rest])

    rule = "-+-".join("-" * width for width in widths)
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def goal_lines(goals: list[dict]) -> list[str]:
    return [
        f"goal {goal['goal']}: {goal['measured']:.2f} -> {'met' if goal['met'] else 'MISSED'}"
        for goal in goals
    ]


def goal(description: str, measured: float, met: bool) -> dict:
    return {"goal": description, "measured": measured, "met": met}


def exit_status(report: dict, check: bool) -> int:
    """1 when `check` is asked for and a goal measured in this run was missed, else 0."""
    return int(check and not all(measured["met"] for measured in report["goals"]))


def run_benchmark(args, run, render) -> int:
    """Measure, print the table (or one JSON object with --json), and return the exit status:
    2 for bad input, 1 when --check is given and a goal is missed, else 0."""
    try:
        report = run(args)
    except BandnameError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else render(report))
    return exit_status(report, args.check)
