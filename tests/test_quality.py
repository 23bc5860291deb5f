"""Sample quality per temperature: shares in [0, 1], same seed same figures, fresh examples."""

from __future__ import annotations

import json
import statistics

import pytest

from generator.name_generator import NameGenerator
from generator.names import freshness_key, load_names
from generator.quality import main, measure, parse_temperatures

SAMPLES = 50
TEMPERATURES = "0.5,1.2"
FIGURES = ("samples", "real_band_share", "unique_share", "unended_share", "median_length")


def quality_json(capsys, checkpoint, *extra: str) -> dict:
    code = main(
        [
            *("--checkpoint", str(checkpoint), "--temperatures", TEMPERATURES),
            *("--samples", str(SAMPLES), "--examples", "10", "--json", *extra),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def test_json_reports_every_figure_per_temperature(tiny_checkpoint, bands_csv, capsys):
    report = quality_json(capsys, tiny_checkpoint, "--data", str(bands_csv), "--seed", "3")

    assert report["seed"] == 3
    assert report["data_median_length"] == statistics.median(
        len(name) for name in load_names(bands_csv)
    )
    assert [result["temperature"] for result in report["temperatures"]] == [0.5, 1.2]
    for result in report["temperatures"]:
        assert set(result) == {"temperature", "examples", *FIGURES}
        assert result["samples"] == SAMPLES
        for share in ("real_band_share", "unique_share", "unended_share"):
            assert 0.0 <= result[share] <= 1.0
        assert result["median_length"] is None or result["median_length"] > 0


def test_the_same_seed_gives_the_same_figures(tiny_checkpoint, capsys):
    first = quality_json(capsys, tiny_checkpoint, "--seed", "7")
    again = quality_json(capsys, tiny_checkpoint, "--seed", "7")

    assert first == again
    assert first["data_median_length"] is None


def test_examples_are_fresh_and_distinct(tiny_checkpoint):
    generator = NameGenerator.load(tiny_checkpoint)

    result = measure(generator, temperature=1.2, samples=SAMPLES, examples=SAMPLES, seed=0)

    keys = [freshness_key(name) for name in result.examples]
    assert result.examples, "a model this small at 1.2 should invent some new names"
    assert len(set(keys)) == len(keys) and all(keys)
    assert not any(name in generator.known_names for name in result.examples)
    # examples are distinct samples, so there can be no more of them than distinct samples
    assert len(result.examples) <= round(result.unique_share * SAMPLES)


def test_markdown_has_a_row_and_an_example_line_per_temperature(tiny_checkpoint, capsys):
    code = main(
        [
            *("--checkpoint", str(tiny_checkpoint), "--temperatures", TEMPERATURES),
            *("--samples", str(SAMPLES)),
        ]
    )
    output = capsys.readouterr().out.splitlines()

    assert code == 0
    rows = [line for line in output if line.startswith("| 0.5 ") or line.startswith("| 1.2 ")]
    assert len(rows) == 2 and all(row.endswith("| n/a |") for row in rows)
    assert sum(line.startswith("**Temperature ") for line in output) == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--temperatures", "0.5,hot"], "numbers separated by commas"),
        (["--temperatures", "3"], "temperature must be above 0"),
        (["--samples", "0"], "--samples must be at least 1"),
        (["--data", "no/such/names.csv"], "no such file"),
        (["--checkpoint", "no/such/model.safetensors"], "no checkpoint at"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_checkpoint, capsys, arguments, message):
    if "--checkpoint" not in arguments:
        arguments = ["--checkpoint", str(tiny_checkpoint), *arguments]

    assert main(arguments) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert captured.out == "" and len(lines) == 1, captured.err
    assert lines[0].startswith("error: ") and message in lines[0]


def test_temperatures_parse_in_order():
    assert parse_temperatures("0.5, 0.8,1") == [0.5, 0.8, 1.0]
