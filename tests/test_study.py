"""The LSTM vs MI-LSTM study trains every cell and seed once and summarizes their best epochs."""

import json
import statistics

import pytest

from generator import study
from generator.history import History

TINY = dict(
    hidden_size=16,
    embedding_size=8,
    epochs=2,
    batch_size=16,
    lr=0.01,
    validation_fraction=0.1,
    min_char_count=1,
    device="cpu",
)


@pytest.fixture
def tiny_setting(monkeypatch):
    monkeypatch.setitem(study.SETTINGS, "tiny", TINY)
    return "tiny"


def run_main(capsys, *argv) -> dict:
    assert study.main(list(argv) + ["--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_each_cell_and_seed_is_trained_and_summarized(tmp_path, bands_csv, capsys, tiny_setting):
    argv = ["--data", str(bands_csv), "--setting", tiny_setting, "--seeds", "0,1"]
    result = run_main(capsys, *argv, "--runs-dir", str(tmp_path))

    for cell in ("milstm", "lstm"):
        figures = result["cells"][cell]
        bests = []
        for seed in (0, 1):
            history = History.read(tmp_path / f"tiny-{cell}-s{seed}.history.json")
            bests.append(min(e["validation_bits_per_char"] for e in history.epochs))
            assert figures["runs"][str(seed)] == pytest.approx(bests[-1])
        assert figures["mean"] == pytest.approx(statistics.fmean(bests))
        assert figures["stdev"] == pytest.approx(statistics.stdev(bests))
        assert figures["parameters"] > 0
    assert result["cells"]["milstm"]["runs"]["0"] != result["cells"]["milstm"]["runs"]["1"]


def test_finished_runs_are_read_back_not_trained_again(tmp_path, bands_csv, capsys, tiny_setting):
    argv = ["--data", str(bands_csv), "--setting", tiny_setting, "--seeds", "3"]
    first = run_main(capsys, *argv, "--runs-dir", str(tmp_path))
    stamps = {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()}
    second = run_main(capsys, *argv, "--runs-dir", str(tmp_path))
    assert second == first
    assert {path: path.stat().st_mtime_ns for path in tmp_path.iterdir()} == stamps


def test_one_cell_can_be_trained_alone(tmp_path, bands_csv, capsys, tiny_setting):
    argv = ["--data", str(bands_csv), "--setting", tiny_setting, "--seeds", "0"]
    result = run_main(capsys, *argv, "--cells", "lstm", "--runs-dir", str(tmp_path))
    assert list(result["cells"]) == ["lstm"]
    assert sorted(path.name for path in tmp_path.glob("*.history.json")) == [
        "tiny-lstm-s0.history.json"
    ]


@pytest.mark.parametrize(
    "flag, value, message",
    [("--seeds", "zero", "comma-separated integers"), ("--cells", "gru", "unknown cell")],
)
def test_bad_flags_get_one_line(capsys, flag, value, message):
    with pytest.raises(SystemExit) as raised:
        study.main([flag, value])
    assert raised.value.code == 2
    assert message in capsys.readouterr().err
