"""Plotting training runs: histories read from either path, runs grouped by label, PNG written."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from generator.history import History
from generator.plot import Run, group_validation, main, read_run, running_mean

needs_matplotlib = pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None,
    reason='matplotlib is not installed (pip install -e ".[plot]")',
)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_history(path, validation: list[float], steps_per_epoch: int = 30, start: float = 6.0):
    """A history shaped like training's: a slowly falling loss, one validation per epoch."""
    history = History(path)
    step = 0
    for epoch, bits in enumerate(validation, start=1):
        for _ in range(steps_per_epoch):
            step += 1
            history.add_step(step, epoch, start / (1 + step / 10) + 0.1 * (step % 3))
        history.add_epoch(epoch, bits + 0.1, bits, 0.01 / epoch)
    history.save()
    return path


def run_of(label: str, validation: list[float]) -> Run:
    return Run(label, [], [], list(range(1, len(validation) + 1)), validation)


def test_a_checkpoint_path_leads_to_its_history(tmp_path):
    write_history(tmp_path / "small.history.json", [3.0, 2.5])

    from_checkpoint = read_run(tmp_path / "small.safetensors")
    from_history = read_run(tmp_path / "small.history.json")

    assert from_checkpoint == from_history
    assert from_history.label == "small"
    assert from_history.epochs == [1, 2] and from_history.validation_bits_per_char == [3.0, 2.5]
    assert len(from_history.steps) == 60


def test_running_mean_averages_the_last_steps_and_fewer_at_the_start():
    assert running_mean([1.0, 3.0, 5.0, 7.0], 2) == [1.0, 2.0, 4.0, 6.0]
    assert running_mean([4.0, 2.0], 1) == [4.0, 2.0]
    assert running_mean([1.0, 2.0, 3.0], 10) == [1.0, 1.5, 2.0]


def test_runs_with_one_label_become_mean_and_band_per_epoch():
    runs = [
        run_of("mi-lstm", [3.0, 2.0, 1.5]),
        run_of("lstm", [3.5, 3.0]),
        run_of("mi-lstm", [2.0, 2.6, 1.2]),
        run_of("mi-lstm", [2.5, 2.3]),
    ]

    mi_lstm, lstm = group_validation(runs)

    assert (mi_lstm.label, mi_lstm.runs, lstm.runs) == ("mi-lstm", 3, 1)
    assert mi_lstm.epochs == [1, 2, 3]
    assert mi_lstm.mean == pytest.approx([2.5, 2.3, 1.35])
    assert mi_lstm.low == [2.0, 2.0, 1.2] and mi_lstm.high == [3.0, 2.6, 1.5]
    assert lstm.mean == lstm.low == lstm.high == [3.5, 3.0]


@needs_matplotlib
def test_main_draws_runs_with_labels_into_a_png(tmp_path, capsys):
    first = write_history(tmp_path / "seed0.history.json", [3.0, 2.5, 2.2])
    second = write_history(tmp_path / "seed1.history.json", [3.2, 2.4], start=7.0)
    third = write_history(tmp_path / "lstm.history.json", [3.4, 2.9])
    out = tmp_path / "runs.png"

    code = main(
        [
            str(first),
            str(second),
            str(tmp_path / "lstm.safetensors"),
            *("--label", "mi-lstm", "--label", "mi-lstm", "--label", "lstm"),
            *("--out", str(out), "--title", "three runs", "--smooth", "5"),
        ]
    )

    assert code == 0, capsys.readouterr().err
    assert third.exists() and out.read_bytes().startswith(PNG_SIGNATURE)


def one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), captured.err
    return lines[0]


def test_a_missing_history_is_one_line_and_exit_2(tmp_path, capsys):
    code = main([str(tmp_path / "absent.history.json"), "--out", str(tmp_path / "x.png")])

    assert code == 2
    assert "absent.history.json" in one_error_line(capsys)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json at all", "not a JSON file"),
        (json.dumps([1, 2, 3]), "not a training history"),
        (json.dumps({"steps": [{"step": 1}], "epochs": []}), "malformed entries"),
    ],
)
def test_a_file_that_is_not_a_history_is_one_line_and_exit_2(tmp_path, capsys, content, message):
    path = tmp_path / "broken.history.json"
    path.write_text(content)

    assert main([str(path), "--out", str(tmp_path / "x.png")]) == 2
    assert message in one_error_line(capsys)


def test_labels_must_match_the_runs(tmp_path, capsys):
    history = write_history(tmp_path / "run.history.json", [3.0])

    assert main([str(history), "--label", "a", "--label", "b"]) == 2
    assert "one --label per run" in one_error_line(capsys)


def test_without_matplotlib_the_install_command_is_the_one_line(tmp_path, capsys, monkeypatch):
    history = write_history(tmp_path / "run.history.json", [3.0])
    # a None entry in sys.modules makes `import matplotlib` fail as if it were not installed
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    assert main([str(history), "--out", str(tmp_path / "x.png")]) == 2
    assert 'pip install -e ".[plot]"' in one_error_line(capsys)


def test_no_raw_leaves_out_the_unsmoothed_curves(tmp_path, capsys):
    run = write_history(tmp_path / "run.history.json", [3.0, 2.5, 2.2])
    with_raw, without_raw = tmp_path / "with.png", tmp_path / "without.png"
    assert main([str(run), "--out", str(with_raw), "--smooth", "5"]) == 0
    assert main([str(run), "--out", str(without_raw), "--smooth", "5", "--no-raw"]) == 0
    drawn = without_raw.read_bytes()
    assert drawn.startswith(PNG_SIGNATURE) and drawn != with_raw.read_bytes()
