import numpy as np
import pytest

from xares.errors import ArtifactError
from xares.store import SplitWriter, is_complete, load_split

KEY = {"encoder": "abc", "split": "train"}


def write_split(path, clips, key=KEY):
    writer = SplitWriter(path, key, dim=3)
    for i, frames in enumerate(clips):
        writer.add(
            frames, {"key": f"k{i}", "shard": "s.tar", "crop": 0, "num_samples": 1, "meta": {"label": i}}
        )
    return writer


def test_commit_and_load(tmp_path):
    clips = [np.full((n, 3), n, dtype=np.float32) for n in (2, 5, 1)]
    write_split(tmp_path / "train", clips).commit()
    data = load_split(tmp_path / "train", KEY)
    assert len(data) == 3 and data.offsets.tolist() == [0, 2, 7, 8]
    np.testing.assert_array_equal(data.clip_frames(1), clips[1])
    np.testing.assert_allclose(data.pooled[:, 0], [2, 5, 1])
    assert data.frames.dtype == np.float16 and isinstance(data.frames, np.memmap)
    assert data.samples[2]["meta"] == {"label": 2}


def test_a_split_that_was_never_committed_does_not_exist(tmp_path):
    writer = write_split(tmp_path / "train", [np.zeros((2, 3), np.float32)])
    assert not is_complete(tmp_path / "train", KEY)
    with pytest.raises(ArtifactError, match="no complete embeddings"):
        load_split(tmp_path / "train", KEY)
    writer.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_key_is_refused(tmp_path):
    write_split(tmp_path / "train", [np.zeros((2, 3), np.float32)]).commit()
    other = {**KEY, "encoder": "def"}
    assert not is_complete(tmp_path / "train", other)
    with pytest.raises(ArtifactError):
        load_split(tmp_path / "train", other)


def test_truncated_frames_are_refused(tmp_path):
    write_split(tmp_path / "train", [np.zeros((4, 3), np.float32)]).commit()
    frames = tmp_path / "train" / "frames.bin"
    frames.write_bytes(frames.read_bytes()[:-2])
    with pytest.raises(ArtifactError, match="damaged"):
        load_split(tmp_path / "train", KEY)


def test_non_finite_or_misshapen_frames_are_refused(tmp_path):
    writer = SplitWriter(tmp_path / "x", KEY, dim=3)
    with pytest.raises(ArtifactError, match="NaN or Inf"):
        writer.add(np.array([[np.nan, 0, 0]], np.float32), {"key": "bad"})
    with pytest.raises(ArtifactError, match="do not fit"):
        writer.add(np.zeros((2, 4), np.float32), {"key": "wide"})
    writer.abort()


def test_recommit_replaces_an_older_split(tmp_path):
    write_split(tmp_path / "train", [np.zeros((2, 3), np.float32)]).commit()
    new_key = {**KEY, "encoder": "new"}
    write_split(tmp_path / "train", [np.ones((1, 3), np.float32)] * 2, key=new_key).commit()
    assert len(load_split(tmp_path / "train", new_key)) == 2
