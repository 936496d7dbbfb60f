from pathlib import Path

import numpy as np
import pytest

from xares.data.decoding import decode_in_order
from xares.data.shards import RawSample, audio_to_bytes
from xares.errors import DataError


def samples(count, bad_at=None):
    for i in range(count):
        wave = np.full(100 + i, i / 1000, dtype=np.float32)
        audio = b"garbage" * 20 if i == bad_at else audio_to_bytes(wave, 8000, "WAV", "FLOAT")
        yield RawSample(key=f"k{i}", audio=audio, audio_ext="wav", meta={}, shard=Path("s.tar"))


@pytest.mark.parametrize("workers", [1, 2])
def test_order_is_kept_and_audio_is_resampled(workers):
    out = list(decode_in_order(samples(50), 16000, workers=workers, chunk_size=3, lookahead=7))
    assert [s.key for s, _ in out] == [f"k{i}" for i in range(50)]
    assert [w.shape[0] for _, w in out] == [2 * (100 + i) for i in range(50)]


def test_an_error_names_its_sample_and_stops_the_stream():
    stream = decode_in_order(samples(30, bad_at=17), 8000, workers=2, chunk_size=4, lookahead=8)
    with pytest.raises(DataError, match="sample 'k17'"):
        list(stream)
