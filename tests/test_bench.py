"""The speed benchmarks run end to end at toy sizes and report positive figures in their JSON."""

from __future__ import annotations

import json

import pytest
import torch

from bench import sample_speed, train_speed
from bench.data import benchmark_names, synthetic_names
from bench.report import exit_status, goal
from bench.seed_loop import SeedCharModel, name_loss, train_on_name

TOY_MODEL = ["--hidden-size", "32", "--embedding-size", "8", "--threads", "1"]


def run_json(main, argv: list[str], capsys) -> dict:
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_train_speed_reports_every_contender(bands_csv, capsys):
    report = run_json(
        train_speed.main,
        ["--data", str(bands_csv), *TOY_MODEL, "--steps", "2", "--warmup", "1"]
        + ["--batch-size", "8", "--seed-names", "3"],
        capsys,
    )

    measured = set(report["results"]) | set(report["skipped"])
    assert measured == {contender.name for contender in train_speed.CONTENDERS}
    for result in report["results"].values():
        assert result["chars_per_s"] > 0
        assert result["symbols"] > 0
    assert report["results"]["lstm"]["x_vs_lstm"] == pytest.approx(1.0)
    assert report["results"]["milstm"]["x_vs_seed_loop"] > 0
    assert report["data"]["source"] == str(bands_csv)
    assert report["machine"]["threads"] == 1
    assert not report["goal_settings_match"]
    assert {goal["goal"].split(" >=")[0] for goal in report["goals"]} >= {
        "MI-LSTM fp32 vs nn.LSTM fp32",
        "MI-LSTM fp32 vs seed loop",
    }


def test_train_speed_only_runs_the_named_contenders(bands_csv, capsys):
    report = run_json(
        train_speed.main,
        ["--data", str(bands_csv), *TOY_MODEL, "--steps", "1", "--warmup", "0"]
        + ["--only", "milstm"],
        capsys,
    )

    assert list(report["results"]) == ["milstm"]
    assert report["results"]["milstm"]["x_vs_lstm"] is None
    assert report["goals"] == []


@pytest.mark.parametrize("cold", [False, True])
def test_train_speed_meets_every_timed_batch_once_before_timing(
    bands_csv, capsys, monkeypatch, cold
):
    """Unless --cold, each contender trains untimed on the timed batches first, so that
    kernels compiled per shape are not timed."""
    steps = []
    real_step = train_speed.train_step

    def counting_step(model, optimizer, batch, precision):
        steps.append(batch.symbols)
        return real_step(model, optimizer, batch, precision)

    monkeypatch.setattr(train_speed, "train_step", counting_step)
    argv = ["--data", str(bands_csv), *TOY_MODEL, "--steps", "3", "--warmup", "1"]
    report = run_json(
        train_speed.main, argv + ["--only", "milstm"] + (["--cold"] if cold else []), capsys
    )

    timed = steps[-3:]
    assert len(steps) == (1 + 3 if cold else 1 + 3 + 3)
    if not cold:
        assert steps[1:4] == timed  # the same batches, first untimed
    assert report["results"]["milstm"]["symbols"] == sum(timed)
    assert report["settings"]["cold"] is cold


def test_train_speed_table_names_machine_data_and_contenders(bands_csv, capsys):
    argv = ["--data", str(bands_csv), *TOY_MODEL, "--steps", "1", "--only", "milstm,lstm"]
    assert train_speed.main(argv) == 0
    table = capsys.readouterr().out

    assert "machine:" in table and "torch" in table
    assert str(bands_csv) in table
    assert "x vs nn.LSTM fp32" in table
    assert "\nmilstm " in table and "\nlstm " in table


def test_train_speed_missing_data_is_one_clear_line(tmp_path, capsys):
    missing = tmp_path / "nowhere.csv"
    assert train_speed.main(["--data", str(missing), *TOY_MODEL, "--steps", "1"]) == 2
    error = capsys.readouterr().err
    assert str(missing) in error and "Traceback" not in error


def test_train_speed_rejects_unknown_contenders(capsys):
    with pytest.raises(SystemExit):
        train_speed.main(["--only", "milstm,transformer"])
    assert "--only" in capsys.readouterr().err


def test_names_fall_back_to_synthetic_when_the_data_is_absent(tmp_path):
    names = benchmark_names(None, default=tmp_path / "absent.csv")

    assert names.names == synthetic_names()
    assert len(set(names.names)) == len(names.names)
    assert "synthetic" in names.source


def test_seed_loop_learns_a_name():
    torch.manual_seed(0)
    model = SeedCharModel(vocab_size=8, embedding_size=4, hidden_size=16)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    ids = [4, 5, 6, 7]
    before = name_loss(model, ids).item()

    symbols = [train_on_name(model, optimizer, ids) for _ in range(20)]

    assert symbols == [len(ids) + 1] * 20
    assert name_loss(model, ids).item() < before / 2


def test_sample_speed_times_both_samplers(tiny_checkpoint, capsys):
    report = run_json(
        sample_speed.main,
        ["--checkpoint", str(tiny_checkpoint), "--prime", "Grave", "--counts", "3,5"]
        + ["--repeats", "3", "--baseline-repeats", "2", "--warmup", "1", "--threads", "1"],
        capsys,
    )

    for sampler in ("generate", "generate_new_prime", "naive"):
        assert set(report["results"][sampler]) == {"3", "5"}
        for figures in report["results"][sampler].values():
            assert 0 < figures["median_ms"] <= figures["p90_ms"]
    assert report["results"]["generate"]["3"]["calls"] == 3
    assert report["results"]["naive"]["5"]["calls"] == 2
    assert report["model"]["untrained"] is False
    assert report["goals"] == []


def test_sample_speed_untrained_model_says_so(bands_csv, capsys):
    report = run_json(
        sample_speed.main,
        ["--random-model", "--data", str(bands_csv), *TOY_MODEL, "--counts", "10"]
        + ["--repeats", "2", "--baseline-repeats", "1", "--warmup", "0"],
        capsys,
    )

    assert report["model"]["untrained"] is True
    assert "UNTRAINED" in report["model"]["source"]
    assert report["model"]["hidden_size"] == 32
    assert [goal["goal"] for goal in report["goals"]] == [
        "generate 10 names (prime seen before) median <= 10 ms",
        "generate 10 names (new prime) median <= 10 ms",
    ]
    assert not report["goal_settings_match"]


def test_naive_sampler_keeps_the_prime(tiny_checkpoint):
    generator = sample_speed.NameGenerator.load(tiny_checkpoint)
    names = sample_speed.naive_names(generator, 4, "Grave", temperature=0.8)

    assert len(names) == 4
    assert all(name.startswith("Grave") for name in names)


def test_check_flag_fails_the_run_only_when_a_goal_is_missed():
    missed = {"goals": [goal("fast", 2.0, True), goal("faster", 0.5, False)]}
    met = {"goals": [goal("fast", 2.0, True)]}

    assert exit_status(missed, check=True) == 1
    assert exit_status(missed, check=False) == 0
    assert exit_status(met, check=True) == 0
