import io
import tarfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xares.data.shards import (
    audio_to_bytes,
    decode_audio,
    expand_braces,
    find_shards,
    iter_shard,
    shard_name,
    split_member_name,
    write_shards,
)
from xares.errors import DataError


def tone(seconds=0.5, rate=16000, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("train_0000{00..02}.tar", ["train_000000.tar", "train_000001.tar", "train_000002.tar"]),
        ("fold_{8..10}.tar", ["fold_8.tar", "fold_9.tar", "fold_10.tar"]),
        ("{a,b}-{1..2}", ["a-1", "a-2", "b-1", "b-2"]),
        ("x{3..1}", ["x3", "x2", "x1"]),  # braceexpand counts down
        ("{single}-*.tar", ["{single}-*.tar"]),  # neither a range nor a choice: literal, as in braceexpand
        ("half{open.tar", ["half{open.tar"]),
    ],
)
def test_expand_braces_as_webdataset_reads_a_pattern(pattern, names):
    assert expand_braces(pattern) == names


def test_roundtrip(tmp_path):
    samples = [(f"k{i}", audio_to_bytes(tone(), 16000), "wav", {"label": str(i)}) for i in range(5)]
    paths = write_shards(samples, tmp_path, "train-*.tar", num_shards=2)
    assert [p.name for p in paths] == ["train-000000.tar", "train-000001.tar"]
    read = [s for p in find_shards(tmp_path, "train*.tar") for s in iter_shard(p)]
    assert [s.key for s in read] == [f"k{i}" for i in range(5)]
    assert [s.meta["label"] for s in read] == [str(i) for i in range(5)]
    assert decode_audio(read[0], 16000).shape == (8000,)


def test_writes_are_reproducible(tmp_path):
    samples = [("a", audio_to_bytes(tone(), 16000), "wav", {"label": "x"})]
    first = write_shards(samples, tmp_path / "1", "s-*.tar")[0].read_bytes()
    second = write_shards(samples, tmp_path / "2", "s-*.tar")[0].read_bytes()
    assert first == second


@settings(max_examples=50, deadline=None)
@given(
    st.text(
        alphabet=st.characters(blacklist_characters="./\x00", blacklist_categories=("Cs",)),
        min_size=1,
        max_size=30,
    )
)
def test_member_names_split_at_the_first_dot(stem):
    assert split_member_name(f"{stem}.flac") == (stem, "flac")
    assert split_member_name(f"dir/{stem}.seg.json") == (f"dir/{stem}", "seg.json")


def test_shard_naming_follows_upstream():
    assert shard_name("wds-audio-train-*.tar", 3) == "wds-audio-train-000003.tar"


def test_stereo_is_downmixed_and_resampled():
    stereo = np.stack([np.ones(4410, np.float32) * 0.5, np.zeros(4410, np.float32)], axis=1)
    sample = _sample(audio_to_bytes(stereo, 44100), "wav")
    mono = decode_audio(sample, 16000)
    assert mono.shape == (1600,)
    assert abs(float(np.median(mono)) - 0.25) < 0.01


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_24", "FLOAT"])
def test_wav_subtypes_decode(subtype):
    sample = _sample(audio_to_bytes(tone(), 16000, "WAV", subtype), "wav")
    assert decode_audio(sample, 16000).dtype == np.float32


def test_flac_and_ogg_decode():
    for fmt, ext in (("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")):
        assert decode_audio(_sample(audio_to_bytes(tone(), 16000, fmt), ext), 16000).size > 7000


def test_garbage_audio_names_shard_and_key():
    with pytest.raises(DataError, match=r"bad\.tar: sample 'clip7'.*could not be decoded"):
        decode_audio(_sample(b"not audio at all" * 10, "wav", key="clip7"), 16000)


def test_zero_length_and_non_finite_audio_are_refused():
    with pytest.raises(DataError, match="zero audio samples"):
        decode_audio(_sample(audio_to_bytes(np.zeros(0, np.float32), 16000), "wav"), 16000)
    wave = tone()
    wave[10] = np.nan
    with pytest.raises(DataError, match="NaN or Inf"):
        decode_audio(_sample(audio_to_bytes(wave, 16000, "WAV", "FLOAT"), "wav"), 16000)


def test_truncated_tar_is_reported(tmp_path):
    samples = [(f"k{i}", audio_to_bytes(tone(1.0), 16000), "wav", {"label": "x"}) for i in range(3)]
    path = write_shards(samples, tmp_path, "t-*.tar")[0]
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(DataError, match=r"t-000000\.tar: the tar is damaged"):
        list(iter_shard(path))


def test_bad_json_missing_json_and_duplicate_keys(tmp_path):
    audio = audio_to_bytes(tone(), 16000)
    bad = _tar(tmp_path / "bad.tar", [("a.wav", audio), ("a.json", b"{not json")])
    with pytest.raises(DataError, match="sample 'a' has a .json member that is not valid"):
        list(iter_shard(bad))
    nojson = _tar(tmp_path / "nojson.tar", [("a.wav", audio)])
    with pytest.raises(DataError, match="no .json member"):
        list(iter_shard(nojson))
    dup = _tar(
        tmp_path / "dup.tar",
        [("a.wav", audio), ("a.json", b"{}"), ("b.wav", audio), ("b.json", b"{}"), ("a.flac", audio)],
    )
    with pytest.raises(DataError, match="key 'a' appears twice"):
        list(iter_shard(dup))


def test_missing_shards_say_where_and_what_to_do(tmp_path):
    with pytest.raises(DataError, match=r"no audio shard found.*Run stage 0"):
        find_shards(tmp_path, "train*.tar")
    (tmp_path / "f1.tar").write_bytes(b"")
    with pytest.raises(DataError, match="f2.tar"):
        find_shards(tmp_path, "f{1..2}.tar")


def _sample(audio, ext, key="k"):
    from pathlib import Path

    from xares.data.shards import RawSample

    return RawSample(key=key, audio=audio, audio_ext=ext, meta={}, shard=Path("bad.tar"))


def _tar(path, members):
    with tarfile.open(path, "w") as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path
