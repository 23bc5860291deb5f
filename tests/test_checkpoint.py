"""Checkpoints round-trip, and every kind of bad file is refused with a clear error."""

import os
import pickle

import pytest
import torch
from safetensors.torch import save_file

from generator.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from generator.errors import CheckpointError
from generator.freshness import KnownNames
from generator.model import CharModel, ModelConfig
from generator.vocab import Vocabulary

PAYLOAD_MARKER = "payload-ran"


class _Payload:
    """Unpickling this object would create a file: proof that code from the file ran."""

    def __init__(self, marker_path):
        self.marker_path = marker_path

    def __reduce__(self):
        return (os.mkdir, (self.marker_path,))


def small_checkpoint() -> Checkpoint:
    vocabulary = Vocabulary(("a", "b", "c"))
    model = CharModel(ModelConfig(len(vocabulary), "milstm", embedding_size=4, hidden_size=6))
    return Checkpoint.from_model(model, vocabulary, KnownNames.from_names(["abc"]), {"epochs": 1})


def test_round_trip_keeps_weights_config_vocabulary_and_known_names(tmp_path):
    original = small_checkpoint()
    save_checkpoint(original, tmp_path / "model.safetensors")
    loaded = load_checkpoint(tmp_path / "model.safetensors")
    assert loaded.config == original.config
    assert loaded.vocabulary == original.vocabulary
    assert loaded.training == {"epochs": 1}
    assert "ABC" in loaded.known_names and "abd" not in loaded.known_names
    for name, tensor in original.weights.items():
        assert torch.equal(loaded.weights[name], tensor)


def test_a_malicious_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / PAYLOAD_MARKER
    path = tmp_path / "evil.pt"
    path.write_bytes(pickle.dumps({"model": _Payload(str(marker))}))
    with pytest.raises(CheckpointError, match="never load"):
        load_checkpoint(path)
    assert not marker.exists()


def test_a_torch_save_pickle_is_refused_without_running(tmp_path):
    marker = tmp_path / PAYLOAD_MARKER
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(2), "payload": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "content",
    [b"", os.urandom(4096), b'\x08\x00\x00\x00\x00\x00\x00\x00{"a":'],
    ids=["empty", "random bytes", "cut header"],
)
def test_damaged_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="not a readable bandname checkpoint"):
        load_checkpoint(path)


def test_a_truncated_checkpoint_is_refused(tmp_path):
    path = tmp_path / "model.safetensors"
    save_checkpoint(small_checkpoint(), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_another_safetensors_file_or_version_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(1)}, path, metadata={"format": "someone-else"})
    with pytest.raises(CheckpointError, match="not a bandname checkpoint"):
        load_checkpoint(path)
    save_file({"x": torch.zeros(1)}, path, metadata={"format": "bandname", "format_version": "99"})
    with pytest.raises(CheckpointError, match="format version 99"):
        load_checkpoint(path)


def test_a_missing_file_is_reported(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_saving_replaces_the_file_whole_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "model.safetensors"
    save_checkpoint(small_checkpoint(), path)
    save_checkpoint(small_checkpoint(), path)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_weights_stored_in_half_precision_load_as_float32(tmp_path):
    original = small_checkpoint()
    save_checkpoint(original, tmp_path / "half.safetensors", torch.float16)
    loaded = load_checkpoint(tmp_path / "half.safetensors")
    model = loaded.build_model()
    for name, tensor in model.state_dict().items():
        assert tensor.dtype == torch.float32
        torch.testing.assert_close(tensor, original.weights[name], rtol=1e-3, atol=1e-4)
