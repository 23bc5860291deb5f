"""The command lines as a user meets them: output on stdout, one-line errors, exit code 2."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, made_up_band_names, write_bands_csv


def run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *arguments], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def assert_clean_failure(result: subprocess.CompletedProcess, message: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and message in errors[0], result.stderr


def test_generator_prints_names_from_a_checkpoint(tiny_checkpoint):
    result = run(
        "-m",
        "generator",
        "--checkpoint",
        str(tiny_checkpoint),
        "-n",
        "5",
        "--prime",
        "Necro",
        "--seed",
        "1",
    )
    names = result.stdout.splitlines()
    assert result.returncode == 0, result.stderr
    assert len(names) == 5 and len(set(names)) == 5
    assert all(name.startswith("Necro") for name in names)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-n", "0"], "between 1 and 100"),
        (["--prime", "a\tb"], "control characters"),
        (["--temperature", "3"], "temperature"),
        (["--checkpoint", "no/such/model.safetensors"], "no checkpoint at"),
    ],
)
def test_generator_refuses_bad_input_in_one_line(tiny_checkpoint, arguments, message):
    if "--checkpoint" not in arguments:
        arguments = ["--checkpoint", str(tiny_checkpoint), *arguments]
    assert_clean_failure(run("-m", "generator", *arguments), message)


def test_evaluate_json_reproduces_the_validation_figure_of_training(tiny_checkpoint, bands_csv):
    from generator.checkpoint import load_checkpoint

    result = run(
        "-m",
        "generator.evaluate",
        "--checkpoint",
        str(tiny_checkpoint),
        "--data",
        str(bands_csv),
        "--split",
        "validation",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(figures) >= {"bits_per_char", "nats_per_char", "names", "chars", "unknown_chars"}
    assert figures["bits_per_char"] == pytest.approx(figures["nats_per_char"] / 0.6931471805599453)
    assert figures["names"] == round(len(made_up_band_names()) * 0.1)
    saved = load_checkpoint(tiny_checkpoint).training["validation_bits_per_char"]
    assert figures["bits_per_char"] == pytest.approx(saved, abs=1e-4)
    # the fixture model is genre-aware: the figures without and with shuffled tags come too
    for key in ("bits_per_char_without_tags", "bits_per_char_shuffled_tags"):
        assert 0 < figures[key] < 10


def test_evaluate_scores_through_the_sampler_on_request(bands_csv):
    """The shipped model: its sampler's faster products cost it next to nothing."""
    result = run("-m", "generator.evaluate", "--data", str(bands_csv), "--sampler", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["sampler_products"].split()[0] in ("int8", "bfloat16", "float32")
    assert 0 < figures["sampler_names"] <= figures["names"]
    fast, exact = (
        figures["bits_per_char_through_sampler"],
        figures["bits_per_char_through_float32_sampler"],
    )
    assert abs(fast - exact) < 0.005
    # spread over the symbols it writes, the sampler puts a little more on each name
    assert exact <= figures["bits_per_char_same_names"] < exact + 0.05


def test_train_writes_a_checkpoint_the_generator_reads(tmp_path, bands_csv):
    out = tmp_path / "x.pt"
    trained = run(
        "train.py",
        "--data",
        str(bands_csv),
        "--epochs",
        "1",
        "--hidden-size",
        "32",
        "--out",
        str(out),
    )
    assert trained.returncode == 0, trained.stderr
    assert "epoch 1/1" in trained.stderr
    generated = run("-m", "generator", "--checkpoint", str(out), "-n", "5")
    assert generated.returncode == 0 and len(generated.stdout.splitlines()) == 5


def test_train_explains_where_to_get_the_data(tmp_path):
    result = run("train.py", "--data", str(tmp_path / "bands.csv"))
    assert_clean_failure(result, "Kaggle")


@pytest.mark.parametrize(
    ("content", "arguments", "message"),
    [
        ("id,band\n1,Grave\n", [], "no column 'name'"),
        ("name\n \n\n", [], "no usable names"),
        (None, [], "binary file"),
        ("id,name\n1,Grave\n", ["--column", "genre"], "no column 'genre'"),
    ],
    ids=["missing column", "nothing left", "not csv", "asked-for column"],
)
def test_train_refuses_bad_data_in_one_line(tmp_path, content, arguments, message):
    path = tmp_path / "bands.csv"
    if content is None:
        path.write_bytes(b"PK\x03\x04\x00\x00" + bytes(300))
    else:
        path.write_text(content)
    result = run("train.py", "--data", str(path), "--out", str(tmp_path / "m.pt"), *arguments)
    assert_clean_failure(result, message)


def test_train_refuses_layer_norm_for_the_lstm_in_one_line(tmp_path, bands_csv):
    out = tmp_path / "m.safetensors"
    arguments = ["--data", str(bands_csv), "--out", str(out), "--cell", "lstm", "--layer-norm"]
    result = run("train.py", *arguments)
    assert_clean_failure(result, "MI-LSTM cell only")
    assert not out.exists()


def test_train_refuses_a_resume_file_that_is_not_one(tmp_path, tiny_checkpoint):
    model_only = tmp_path / "model.safetensors"
    model_only.write_bytes(tiny_checkpoint.read_bytes())
    assert_clean_failure(run("train.py", "--resume", str(model_only)), "no training state")


def test_a_resumed_run_keeps_its_settings(tiny_checkpoint):
    result = run("train.py", "--resume", str(tiny_checkpoint), "--lr", "0.1")
    assert_clean_failure(result, "not lr")


def test_too_few_names_for_a_validation_set(tmp_path):
    path = write_bands_csv(tmp_path / "bands.csv", ["Grave"])
    result = run("train.py", "--data", str(path), "--out", str(tmp_path / "m.pt"))
    assert_clean_failure(result, "too few")
