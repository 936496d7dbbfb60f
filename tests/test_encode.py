import json
from pathlib import Path

import numpy as np
import pytest
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


def test_bf16_autocast_gives_close_but_separately_stored_embeddings(tmp_path, monkeypatch):
    from toy_data import make_task_file

    from xares import run
    from xares.store import load_split, read_manifest

    monkeypatch.chdir(tmp_path)
    task = make_task_file(tmp_path)
    mel = str(ROOT / "example/mel/mel_encoder.py")
    assert run.main([mel, str(task), "--results", "fp32.json", "-q"]) == 0
    assert run.main([mel, str(task), "--results", "bf16.json", "--autocast", "bf16", "-q"]) == 0
    stores = sorted(p.name for p in (tmp_path / "env/toy/embeddings").iterdir() if p.is_dir())
    assert len(stores) == 2 and stores[1] == stores[0] + "-bf16", stores
    fp32_dir, bf16_dir = (tmp_path / "env/toy/embeddings" / name / "test" for name in stores)
    assert read_manifest(bf16_dir)["autocast"] == "bf16" and read_manifest(fp32_dir)["autocast"] == "off"
    full = load_split(fp32_dir, read_manifest(fp32_dir)["key"]).pooled
    half = load_split(bf16_dir, read_manifest(bf16_dir)["key"]).pooled
    assert not np.array_equal(full, half), "bf16 autocast changed nothing: it did not run"
    np.testing.assert_allclose(half, full, rtol=0.05, atol=0.05)
    results = json.loads((tmp_path / "bf16.json").read_text())
    assert results["encoder"]["efficiency"]["devices"] == ["cpu (bf16 autocast)"]
    assert results["run"]["autocast"] == "bf16"
    from xares.report import encoder_labels, load_results

    documents = [load_results(tmp_path / name) for name in ("fp32.json", "bf16.json")]
    assert encoder_labels(documents) == ["MelEncoder", "MelEncoder (bf16 autocast)"]


def test_an_unknown_autocast_precision_is_refused():
    encoder = load_encoder(ROOT / "example/mel/mel_encoder.py")
    with pytest.raises(ValueError, match="autocast must be one of"):
        encode_batch(
            encoder,
            [np.zeros(1600, np.float32)],
            device=torch.device("cpu"),
            pads_safely=True,
            autocast="fp8",
        )


@pytest.mark.parametrize("threaded", [True, False])
def test_the_background_writer_raises_the_threads_error_in_the_encoding_thread(tmp_path, threaded):
    from xares.encode import BackgroundWriter
    from xares.store import SplitWriter

    writer = SplitWriter(tmp_path / "train", {"k": 1}, dim=2)
    background = BackgroundWriter(writer, depth=1, threaded=threaded)
    background.add_window([(np.zeros((3, 2), np.float32), {"key": "a"})])
    with pytest.raises(Exception, match="wrong width.*do not fit"):
        background.add_window([(np.zeros((3, 5), np.float32), {"key": "wrong width"})])  # add() refuses it
        for _ in range(3):  # the error surfaces at a later call, at the latest at finish()
            background.add_window([(np.zeros((3, 2), np.float32), {"key": "b"})])
        background.finish()
    writer.abort()
    assert list(tmp_path.iterdir()) == []
