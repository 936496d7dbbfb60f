from pathlib import Path

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from xares.encode import cut_crops, encode_batch, plan_batches
from xares.encoder import load_encoder

ROOT = Path(__file__).resolve().parents[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 50), max_size=60), st.integers(1, 8), st.booleans())
def test_batches_cover_every_clip_once(lengths, batch_size, pads_safely):
    batches = plan_batches(lengths, batch_size, pads_safely)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(lengths)))
    assert all(1 <= len(b) <= batch_size for b in batches)
    if not pads_safely:
        assert all(len({lengths[i] for i in batch}) == 1 for batch in batches)


def test_a_clip_alone_and_inside_a_batch_of_longer_clips_gives_the_same_embedding():
    encoder = load_encoder(ROOT / "example/mel/mel_encoder.py")
    rng = np.random.default_rng(0)
    clip = rng.standard_normal(12_345).astype(np.float32) * 0.1
    longer = [rng.standard_normal(n).astype(np.float32) * 0.1 for n in (20_000, 31_999, 48_000)]
    alone = encode_batch(encoder, [clip], device=torch.device("cpu"), pads_safely=True)[0]
    inside = encode_batch(encoder, [*longer, clip], device=torch.device("cpu"), pads_safely=True)[-1]
    assert alone.shape == inside.shape == (encoder.frame_count(clip.size), 64)
    np.testing.assert_allclose(alone.mean(axis=0), inside.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(alone, inside, rtol=1e-4, atol=1e-4)


def test_crops_follow_the_upstream_rule():
    wave = np.arange(25, dtype=np.float32)
    assert [c.tolist() for c in cut_crops(wave, 10)] == [list(range(10)), list(range(10, 20))]
    short = cut_crops(np.ones(4, np.float32), 10)
    assert len(short) == 1 and short[0].tolist() == [1, 1, 1, 1] + [0] * 6
    assert cut_crops(wave, None)[0] is wave
