"""The Kneser-Ney baseline gives proper distributions, learns with order, and its CLI behaves."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from generator.names import load_names, split_names
from generator.ngram import KneserNeyModel, evaluate, main
from generator.vocab import END, PAD, START, UNK, Vocabulary

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "bands.csv"

NAMES = [
    "Abysmal Dawn", "Abyssal Throne", "Cannibal Corpse", "Carnal Decay", "Cryptic Wound",
    "Dark Funeral", "Death Angel", "Decapitated", "Deicide", "Dismember", "Entombed",
    "Gorguts", "Grave Digger", "Immolation", "Incantation", "Morbid Angel", "Mortal Decay",
    "Necrophagist", "Nile", "Obituary", "Possessed", "Sepultura", "Suffocation", "Vader",
    "Vomit Remnants", "Death Throne", "Morbid Throne", "Carnal Wound", "Dark Angel", "Grave Wound",
]  # fmt: skip


def write_csv(path: Path, names: list[str], column: str = "name") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", column])
        writer.writerows(enumerate(names))
    return path


def fitted(order: int, names: list[str] = NAMES) -> KneserNeyModel:
    return KneserNeyModel.fit(names, Vocabulary.build(names), order)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_predictive_distribution_sums_to_one(order: int) -> None:
    model = fitted(order)
    vocab = model.vocab
    prefixes = [
        "",  # only START in the context
        "Death",  # a context seen in training
        "Mor",  # seen, followed by more than one character
        "Xq",  # characters outside the vocabulary: UNK ids
        "zzzz",  # unknown characters: a run of UNK ids longer than any in training
        "Abysmal Dawn and more",  # longer than any context the model looks at
    ]
    for prefix in prefixes:
        distribution = model.distribution(vocab.encode(prefix))
        assert set(distribution) == set(range(len(vocab))) - {PAD, START}
        assert all(p > 0 for p in distribution.values()), prefix
        assert math.isclose(sum(distribution.values()), 1.0, rel_tol=1e-9), prefix


def test_probability_of_a_symbol_agrees_with_the_distribution() -> None:
    model = fitted(3)
    prefix = model.vocab.encode("Morbid")
    distribution = model.distribution(prefix)
    for symbol in (END, UNK, *model.vocab.encode(" Ta")):
        assert model.probability(prefix, symbol) == distribution[symbol]


def test_start_and_padding_are_never_predicted() -> None:
    model = fitted(2)
    with pytest.raises(ValueError, match="never predicts"):
        model.probability([], START)


def test_higher_orders_fit_the_training_names_better() -> None:
    bits = [evaluate(fitted(order), NAMES).bits_per_char for order in (1, 2, 3, 4)]
    assert bits == sorted(bits, reverse=True)
    assert bits[0] - bits[-1] > 1.0


def test_unigram_matches_the_closed_form() -> None:
    names = ["aaaa", "bbb", "cc", "d"]
    vocab = Vocabulary(("a", "b", "c", "d"))
    model = KneserNeyModel.fit(names, vocab, order=1)

    # counts with each name's END: a, END 4 times; b 3; c 2; d 1
    counts = Counter(symbol for name in names for symbol in [*vocab.encode(name), END])
    total = sum(counts.values())
    count_of_counts = Counter(counts.values())
    n1, n2, n3, n4 = (count_of_counts[k] for k in (1, 2, 3, 4))
    y = n1 / (n1 + 2 * n2)
    d1, d2, d3 = 1 - 2 * y * n2 / n1, 2 - 3 * y * n3 / n2, 3 - 4 * y * n4 / n3
    discount = {1: d1, 2: d2, 3: d3, 4: d3}
    leftover = sum(discount[count] for count in counts.values()) / total
    predictable = len(vocab) - 2  # all but PAD and START

    distribution = model.distribution([])
    for symbol, count in counts.items():
        expected = (count - discount[count]) / total + leftover / predictable
        assert math.isclose(distribution[symbol], expected, rel_tol=1e-12)
    assert math.isclose(distribution[UNK], leftover / predictable, rel_tol=1e-12)
    # a unigram ignores what came before
    assert model.distribution(vocab.encode("abc")) == distribution


def test_log_probability_is_the_sum_over_characters_and_end() -> None:
    model = fitted(3)
    name = "Dark Wound"
    ids = model.vocab.encode(name)
    by_symbol = sum(
        math.log(model.probability(ids[:t], symbol)) for t, symbol in enumerate([*ids, END])
    )
    assert math.isclose(model.log_probability(name), by_symbol, rel_tol=1e-12)


def test_cli_prints_json_on_the_validation_split(tmp_path: Path, capsys) -> None:
    data = write_csv(tmp_path / "bands.csv", NAMES)
    code = main(["--data", str(data), "--order", "3", "--validation-fraction", "0.2", "--json"])
    assert code == 0

    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"order", "bits_per_char", "nats_per_char", "names", "chars"}
    validation = split_names(load_names(data), 0.2, 0).validation
    assert result["order"] == 3
    assert result["names"] == len(validation)
    assert result["chars"] == sum(len(name) for name in validation)
    assert math.isclose(result["bits_per_char"], result["nats_per_char"] / math.log(2))


def test_cli_evaluates_all_names_of_another_csv(tmp_path: Path, capsys) -> None:
    data = write_csv(tmp_path / "bands.csv", NAMES)
    other = write_csv(tmp_path / "other.csv", ["Dark Throne", "Vile Decay", "Dark Throne"])
    assert main(["--data", str(data), "--eval-data", str(other), "--order", "2"]) == 0
    line = capsys.readouterr().out.strip()
    # load_names drops the duplicate: 2 names, 11 + 10 characters
    assert line.startswith("2-gram: 2 names, 21 chars, ")
    assert line.endswith(" bits/char")


@pytest.mark.parametrize("problem", ["missing file", "missing column"])
def test_cli_reports_data_errors_in_one_line(tmp_path: Path, capsys, problem: str) -> None:
    if problem == "missing file":
        args = ["--data", str(tmp_path / "absent.csv")]
    else:
        args = ["--data", str(write_csv(tmp_path / "bands.csv", NAMES, column="band"))]
    assert main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ")
    assert "\n" not in error and "Traceback" not in error


def test_module_entry_point_exits_2_without_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "generator.ngram", "--data", str(tmp_path / "absent.csv")]
    finished = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert finished.returncode == 2
    assert "no such file" in finished.stderr
    assert "Traceback" not in finished.stderr


@pytest.mark.skipif(not REAL_DATA.is_file(), reason=f"real data not present at {REAL_DATA}")
def test_seven_gram_on_the_real_data_lands_near_the_reference() -> None:
    started = time.perf_counter()
    split = split_names(load_names(REAL_DATA, "name"))
    model = KneserNeyModel.fit(split.train, Vocabulary.build(split.train), order=7)
    bits = evaluate(model, split.validation).bits_per_char
    assert 2.50 <= bits <= 2.65
    assert time.perf_counter() - started < 30


@pytest.mark.parametrize("order", [1, 3, 5])
def test_distributions_give_the_rows_distribution_gives(order: int) -> None:
    model = fitted(order)
    for name in ["Morbid Wound", "Zyklon", ""]:  # seen pieces, unseen letters, empty
        ids = model.vocab.encode(name)
        rows = model.distributions(name)
        assert len(rows) == len(ids) + 1
        for prefix_length, row in enumerate(rows):
            expected = model.distribution(ids[:prefix_length])
            assert row[PAD] == row[START] == 0.0
            assert math.isclose(sum(row), 1.0, rel_tol=1e-9)
            for symbol, probability in expected.items():
                assert row[symbol] == pytest.approx(probability, rel=1e-12)
