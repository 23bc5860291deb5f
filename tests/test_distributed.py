"""torchrun with two CPU processes trains to the same weights as one process on the same batches."""

import os
import subprocess
import sys

import pytest
import torch

from generator.checkpoint import load_checkpoint
from generator.options import companion_paths
from tests.conftest import REPO_ROOT

TINY_RUN = [
    "--hidden-size",
    "16",
    "--embedding-size",
    "8",
    "--epochs",
    "2",
    "--batch-size",
    "16",
    "--lr",
    "0.01",
    "--samples",
    "0",
    "--min-char-count",
    "1",
    "--device",
    "cpu",
]


def run_training(*launcher: str, data, out, extra=()) -> subprocess.CompletedProcess:
    environment = dict(os.environ, GLOO_SOCKET_IFNAME="lo", OMP_NUM_THREADS="1")
    return subprocess.run(
        [*launcher, "train.py", "--data", str(data), "--out", str(out), *TINY_RUN, *extra],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


# with n-gram targets each process must pick the targets of its own share of the batch
@pytest.mark.parametrize("extra", [(), ("--ngram-targets", "0.3")], ids=["plain", "ngram-targets"])
def test_two_processes_match_one_on_the_same_global_batches(tmp_path, bands_csv, extra):
    single = tmp_path / "single.safetensors"
    pair = tmp_path / "pair.safetensors"
    alone = run_training(sys.executable, data=bands_csv, out=single, extra=extra)
    assert alone.returncode == 0, alone.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2"]
    together = run_training(*torchrun, data=bands_csv, out=pair, extra=extra)
    assert together.returncode == 0, together.stderr
    assert "training on 2 processes (gloo backend)" in together.stderr

    # the last epoch's state: compare the whole run, not only the best epoch
    expected = load_checkpoint(companion_paths(single)[0])
    actual = load_checkpoint(companion_paths(pair)[0])
    assert actual.training["processes"] == 2
    for name, tensor in expected.weights.items():
        torch.testing.assert_close(actual.weights[name], tensor, rtol=1e-4, atol=1e-5)
    expected_epochs = expected.state.progress["history"]["epochs"]
    actual_epochs = actual.state.progress["history"]["epochs"]
    for mine, theirs in zip(actual_epochs, expected_epochs, strict=True):
        assert abs(mine["validation_bits_per_char"] - theirs["validation_bits_per_char"]) < 1e-4
