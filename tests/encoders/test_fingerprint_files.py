"""The `fingerprint_files` extension: weights that are not torch parameters still key the caches."""

import pytest
import torch

from xares.encoder import encoder_fingerprint
from xares.errors import EncoderError


class FileBackedEncoder(torch.nn.Module):
    """Stands for an ONNX/CTranslate2 wrapper: no torch parameters, a model file on disk."""

    def __init__(self, *paths):
        super().__init__()
        self.sampling_rate, self.output_dim, self.hop_size_in_ms = 16000, 4, 10
        self.fingerprint_files = list(paths)

    def forward(self, audio):
        return torch.zeros(audio.shape[0], 1, 4)


def test_file_bytes_change_the_fingerprint(tmp_path):
    model = tmp_path / "model.bin"
    model.write_bytes(b"weights v1")
    first = encoder_fingerprint(FileBackedEncoder(model))
    assert encoder_fingerprint(FileBackedEncoder(model)) == first
    model.write_bytes(b"weights v2")
    assert encoder_fingerprint(FileBackedEncoder(model)) != first
    assert encoder_fingerprint(FileBackedEncoder()) != first


def test_a_renamed_copy_of_the_same_file_keeps_the_fingerprint(tmp_path):
    (tmp_path / "a.onnx").write_bytes(b"same bytes")
    (tmp_path / "b.onnx").write_bytes(b"same bytes")
    assert encoder_fingerprint(FileBackedEncoder(tmp_path / "a.onnx")) == encoder_fingerprint(
        FileBackedEncoder(tmp_path / "b.onnx")
    )


def test_a_folder_is_hashed_file_by_file(tmp_path):
    folder = tmp_path / "ct2"
    (folder / "sub").mkdir(parents=True)
    (folder / "model.bin").write_bytes(b"w")
    (folder / "sub" / "config.json").write_text("{}")
    first = encoder_fingerprint(FileBackedEncoder(folder))
    (folder / "sub" / "config.json").write_text('{"n_mels": 128}')
    assert encoder_fingerprint(FileBackedEncoder(folder)) != first


def test_a_missing_file_is_an_error_not_a_silent_key(tmp_path):
    with pytest.raises(EncoderError, match="does not exist"):
        encoder_fingerprint(FileBackedEncoder(tmp_path / "absent.onnx"))


def test_encoders_without_the_attribute_keep_their_fingerprint():
    """The extension adds nothing to the hash of encoders that do not use it."""
    plain = FileBackedEncoder()
    del plain.fingerprint_files
    assert encoder_fingerprint(plain) == encoder_fingerprint(FileBackedEncoder())
