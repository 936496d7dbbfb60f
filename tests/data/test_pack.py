"""`xares pack`: a folder of audio plus a labels table becomes shards that X-ARES reads back.

Round trips through the shard reader (bytes kept, labels typed, keys safe), both label formats,
fold naming, byte-identical repacks, the shard size bound, re-encoding on request, every kind of bad
input (each error names the row and the file, and nothing is left behind), the generated task file
loaded by load_task_config, and one real run of `python -m xares.run` with the mel encoder on it.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xares import cli
from xares.acquire import acquire, is_acquired
from xares.data.pack import READY_MARKER, PackError, pack, safe_key, task_skeleton
from xares.data.shards import find_shards, iter_shard, split_member_name
from xares.report import load_results
from xares.task import load_task_config

REPO = Path(__file__).resolve().parents[2]
MEL_ENCODER = REPO / "example" / "mel" / "mel_encoder.py"
CLASSES = ("low", "high")


def tone(index: int, seconds: float = 0.5, rate: int = 16000) -> np.ndarray:
    """A class-dependent tone with a little noise: 'low' clips at 300 Hz, 'high' at 2500 Hz."""
    rng = np.random.default_rng(index)
    freq = 300.0 if index % 2 == 0 else 2500.0
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


def make_folder(root: Path, count: int = 12, *, splits=("train", "train", "valid", "test")) -> list[dict]:
    """`count` clips (WAV and FLAC, some in a sub-folder, awkward names) and their label rows."""
    audio = root / "audio"
    (audio / "take 2").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(count):
        label = CLASSES[i % 2]
        name = f"take 2/{label} #{i}.wav" if i % 3 == 0 else f"{label}.{i:02d}.flac"
        fmt = "WAV" if name.endswith(".wav") else "FLAC"
        soundfile.write(audio / name, tone(i), 16000, format=fmt)
        rows.append(
            {"file": name, "split": splits[i % len(splits)], "label": label, "loud": f"{i / 4:.2f}", "n": i}
        )
    return rows


def write_csv(path: Path, rows: list[dict], delimiter: str = ",") -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_split(out: Path, pattern: str) -> list:
    return [s for shard in find_shards(out, pattern) for s in iter_shard(shard)]


def digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.tar"))}


# --- round trips -------------------------------------------------------------------------------------


def test_csv_pack_keeps_bytes_types_and_makes_safe_keys(tmp_path: Path) -> None:
    rows = make_folder(tmp_path)
    out = tmp_path / "env" / "tones"
    result = pack(tmp_path / "audio", write_csv(tmp_path / "labels.csv", rows), out)

    assert sorted(p.name for p in out.iterdir()) == sorted(
        [READY_MARKER, "train-000000.tar", "valid-000000.tar", "test-000000.tar"]
    )
    assert [s for s in result.splits] == ["train", "valid", "test"]
    by_key = {safe_key(r["file"]): r for r in rows}
    seen = []
    for split in ("train", "valid", "test"):
        samples = read_split(out, f"{split}-*.tar")
        assert [s.key for s in samples] == sorted(s.key for s in samples)  # sorted members
        for sample in samples:
            row = by_key[sample.key]
            assert row["split"] == split
            assert sample.audio == (tmp_path / "audio" / row["file"]).read_bytes()  # bytes as they were
            assert sample.audio_ext == row["file"].rsplit(".", 1)[1]
            # label columns typed: n all integers -> int, loud all numbers -> float; file/split left out
            assert sample.meta == {"label": row["label"], "loud": float(row["loud"]), "n": row["n"]}
            seen.append(sample.key)
    assert sorted(seen) == sorted(by_key)
    assert "take_2_low__0" in seen and "high_01" in seen  # '/', ' ', '#', '.' all became '_'

    marker = json.loads((out / READY_MARKER).read_text())
    assert marker["files"] == {p.name: p.stat().st_size for p in out.glob("*.tar")}
    assert "xares pack" in marker["source"]
    assert oct((out / "train-000000.tar").stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_tsv_and_keep_strings(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    out = tmp_path / "out" / "t"
    pack(tmp_path / "audio", write_csv(tmp_path / "l.tsv", rows, "\t"), out, infer_types=False)
    meta = read_split(out, "train-*.tar")[0].meta
    assert isinstance(meta["n"], str) and isinstance(meta["loud"], str)


def test_jsonl_folds_keep_json_values(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 9)
    for i, row in enumerate(rows):
        row["split"] = i % 3 + 1  # folds 1, 2, 3
        row["events"] = [{"onset": 0.0, "label": row["label"]}]  # any JSON value goes in as it is
        row.pop("loud")
    out = tmp_path / "env" / "folds"
    result = pack(tmp_path / "audio", write_jsonl(tmp_path / "labels.jsonl", rows), out)

    assert result.kfold and list(result.splits) == [1, 2, 3]
    assert sorted(p.name for p in out.glob("*.tar")) == [f"wds-audio-fold-{k}-000000.tar" for k in (1, 2, 3)]
    sample = read_split(out, "wds-audio-fold-2-*.tar")[0]
    row = next(r for r in rows if safe_key(r["file"]) == sample.key)
    assert sample.meta == {"label": row["label"], "n": row["n"], "events": row["events"]}


def test_rows_given_in_python(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    rows[0]["loud"] = 0.5  # values keep their Python types
    out = tmp_path / "env" / "py"
    result = pack(tmp_path / "audio", rows, out)
    assert result.samples == 4
    meta = {s.key: s.meta for s in read_split(out, "train-*.tar")}
    assert meta[safe_key(rows[0]["file"])] == {"label": "low", "loud": 0.5, "n": 0}
    with pytest.raises(PackError, match=r"labels\[1\]: a list, expected a dict"):
        pack(tmp_path / "audio", [rows[0], ["x"]], tmp_path / "o" / "t")
    rows[1]["split"] = "dev"
    with pytest.raises(PackError, match=r"labels\[1\]: file 'high.01.flac': unknown split 'dev'"):
        pack(tmp_path / "audio", rows, tmp_path / "o" / "t")


def test_file_column_without_extension_and_subfolders(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    for row in rows:
        row["path"] = "./" + row.pop("file").rsplit(".", 1)[0]  # './low.00', no extension
    out = tmp_path / "out" / "t"
    result = pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), out)
    assert result.samples == 4


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda s: s.strip(".") and "\x00" not in s))
def test_safe_key_survives_webdataset_splitting(name: str) -> None:
    key = safe_key(f"dir/{name}.wav")
    assert "." not in key and "/" not in key
    assert split_member_name(f"{key}.wav") == (key, "wav")
    assert split_member_name(f"{key}.json") == (key, "json")
    assert safe_key(key) == key  # already safe: unchanged


# --- determinism and the size bound ------------------------------------------------------------------


def test_two_packs_are_byte_identical_whatever_the_row_order(tmp_path: Path) -> None:
    rows = make_folder(tmp_path)
    first, second = tmp_path / "a" / "t", tmp_path / "b" / "t"
    pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), first, max_shard_bytes=60_000)
    pack(tmp_path / "audio", write_csv(tmp_path / "r.csv", rows[::-1]), second, max_shard_bytes=60_000)
    assert len(digests(first)) > 3
    assert digests(first) == digests(second)
    with tarfile.open(first / "train-000000.tar") as tar:
        fields = {(i.mtime, i.uid, i.gid, i.uname, i.gname, i.mode) for i in tar.getmembers()}
    assert fields == {(0, 0, 0, "", "", 0o644)}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    lengths=st.lists(st.integers(min_value=100, max_value=30_000), min_size=1, max_size=14),
    bound=st.integers(min_value=72_000, max_value=300_000),
)
def test_every_shard_stays_within_the_bound_and_is_filled(
    tmp_path_factory: pytest.TempPathFactory, lengths: list[int], bound: int
) -> None:
    root = tmp_path_factory.mktemp("bound")
    (root / "audio").mkdir()
    rows = []
    for i, length in enumerate(lengths):
        soundfile.write(root / "audio" / f"c{i:02d}.wav", tone(i, length / 16000), 16000)
        rows.append({"file": f"c{i:02d}.wav", "split": "train", "label": "x"})
    rows.append({"file": "t.wav", "split": "test", "label": "x"})
    soundfile.write(root / "audio" / "t.wav", tone(99), 16000)
    out = root / "env" / "b"
    result = pack(root / "audio", write_csv(root / "l.csv", rows), out, max_shard_bytes=bound)

    shards = list(result.splits["train"].shards)
    sizes = [p.stat().st_size for p in shards]
    assert all(size <= bound for size in sizes)
    samples = [list(iter_shard(p)) for p in shards]
    keys = [s.key for chunk in samples for s in chunk]
    assert keys == sorted(f"c{i:02d}" for i in range(len(lengths)))  # all there, in key order
    for index in range(len(shards) - 1):  # a shard is only closed when the next sample would not fit
        with tarfile.open(shards[index]) as tar:
            last = tar.getmembers()[-1]
            used = last.offset_data + -(-last.size // 512) * 512  # the members' bytes, end blocks excluded
        nxt = samples[index + 1][0]
        extra = 512 * (2 + -(-len(nxt.audio) // 512) + -(-len(json.dumps(nxt.meta)) // 512))
        assert -(-(used + extra + 1024) // 10240) * 10240 > bound


def test_a_file_larger_than_the_bound_is_refused(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    soundfile.write(tmp_path / "audio" / rows[0]["file"], tone(0, 3.0), 16000)  # ~96 kB
    with pytest.raises(PackError, match=r"needs \d+ bytes in a shard, more than --max-shard-size 40960"):
        pack(
            tmp_path / "audio",
            write_csv(tmp_path / "l.csv", rows),
            tmp_path / "o" / "t",
            max_shard_bytes=40960,
        )
    assert not list((tmp_path / "o" / "t").iterdir())


# --- re-encoding on request ---------------------------------------------------------------------------


def test_resample_writes_flac_at_the_new_rate(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    out = tmp_path / "o" / "t"
    pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), out, resample=8000)
    pack(tmp_path / "audio", tmp_path / "l.csv", tmp_path / "again" / "t", resample=8000)
    assert digests(out) == digests(tmp_path / "again" / "t")  # re-encoded bytes are reproducible too
    for sample in read_split(out, "train-*.tar"):
        assert sample.audio_ext == "flac"
        data, rate = soundfile.read(io.BytesIO(sample.audio))
        assert rate == 8000 and abs(len(data) - 4000) <= 1


def test_aiff_needs_encode_and_is_packed_with_it(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    soundfile.write(tmp_path / "audio" / "extra.aiff", tone(5), 16000, format="AIFF")
    rows.append({"file": "extra.aiff", "split": "train", "label": "high", "loud": "0", "n": 9})
    labels = write_csv(tmp_path / "l.csv", rows)
    with pytest.raises(PackError, match=r"line 6: file 'extra.aiff': a .aiff audio cannot go into a shard"):
        pack(tmp_path / "audio", labels, tmp_path / "o" / "t")
    pack(tmp_path / "audio", labels, tmp_path / "o" / "t", encode="wav")
    sample = next(s for s in read_split(tmp_path / "o" / "t", "train-*.tar") if s.key == "extra")
    assert sample.audio_ext == "wav"
    assert np.allclose(soundfile.read(io.BytesIO(sample.audio), dtype="float32")[0], tone(5), atol=1e-4)


# --- bad input -----------------------------------------------------------------------------------------


def pack_fails(tmp_path: Path, rows: list[dict], **options) -> PackError:
    out = tmp_path / "env" / "bad"
    with pytest.raises(PackError) as caught:
        pack(tmp_path / "audio", write_csv(tmp_path / "labels.csv", rows), out, **options)
    assert not out.exists() or not list(out.iterdir())  # no shard, no temporary file, no marker
    return caught.value


def test_label_row_without_audio_names_the_row_and_a_close_file(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4)
    rows[2]["file"] = "low.20.flac"  # low.02.flac exists
    error = pack_fails(tmp_path, rows)
    assert "labels.csv, line 4: label row without audio: no file 'low.20.flac'" in str(error)
    assert "did you mean 'low.02.flac'?" in str(error)
    # ... and the file it was meant for now has no row: both reported in one message
    assert "low.02.flac: audio file without a row in" in str(error)
    assert len(error.problems) == 2


def test_audio_file_without_a_row(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 5)
    error = pack_fails(tmp_path, rows[:4])
    assert error.problems == [
        f"{tmp_path / 'audio' / rows[4]['file']}: audio file without a row in {tmp_path / 'labels.csv'}; "
        "add a row for it, move it out of the audio folder, or pass --ignore-unlisted"
    ]
    out = tmp_path / "env" / "part"
    assert pack(tmp_path / "audio", tmp_path / "labels.csv", out, ignore_unlisted=True).samples == 4


def test_linked_folders_are_followed_once(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    soundfile.write(elsewhere / "far.wav", tone(3), 16000)
    (tmp_path / "audio" / "linked").symlink_to(elsewhere)
    (tmp_path / "audio" / "take 2" / "up").symlink_to(tmp_path / "audio")  # a loop
    rows.append({"file": "linked/far.wav", "split": "train", "label": "high", "loud": "1", "n": 7})
    result = pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), tmp_path / "o" / "t")
    assert result.samples == 5
    assert "linked_far" in {s.key for s in read_split(tmp_path / "o" / "t", "train-*.tar")}


def test_hidden_and_non_audio_files_are_not_looked_at(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "test"))
    (tmp_path / "audio" / "._low.00.flac").write_bytes(b"\x00\x05\x16\x07 AppleDouble")  # macOS litter
    (tmp_path / "audio" / "README.txt").write_text("notes")
    assert pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), tmp_path / "o" / "t").samples == 4


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"this is not audio at all" * 10, "unreadable audio"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "unreadable audio"),  # a WAV cut short in its header
        (b"", "holds no audio samples"),
        (b"nan", "NaN or Inf sample values"),
    ],
)
def test_unreadable_audio_names_row_and_file(tmp_path: Path, payload: bytes, reason: str) -> None:
    rows = make_folder(tmp_path, 8)
    target = tmp_path / "audio" / rows[5]["file"]
    if payload == b"":
        soundfile.write(target, np.zeros(0, dtype=np.float32), 16000, format="WAV")  # header only
    elif payload == b"nan":
        wave = tone(5)
        wave[300_000 % wave.size] = np.nan
        soundfile.write(target, wave, 16000, format="WAV", subtype="FLOAT")
    else:
        target.write_bytes(payload)
    error = pack_fails(tmp_path, rows)
    assert len(error.problems) == 1
    assert error.problems[0].startswith(f"{tmp_path / 'labels.csv'}, line 7: file {rows[5]['file']!r}: ")
    assert reason in error.problems[0]


def test_a_wav_cut_short_after_its_header_is_refused_not_packed_shorter(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 8)
    target = tmp_path / "audio" / rows[3]["file"]
    soundfile.write(target, tone(3), 16000, format="WAV", subtype="PCM_16")  # 16,000 bytes of audio
    whole = target.read_bytes()
    target.write_bytes(whole[: len(whole) - 4000])  # an interrupted copy: the header still says 16,000
    error = pack_fails(tmp_path, rows)
    assert len(error.problems) == 1
    assert "line 5" in error.problems[0]
    assert "cut short: its header promises 16000 bytes of audio, it holds 12000 (75%)" in error.problems[0]
    target.write_bytes(whole)
    assert pack(tmp_path / "audio", tmp_path / "labels.csv", tmp_path / "o" / "t").samples == 8


def test_a_streamed_wav_with_an_unknown_data_size_is_packed(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4)
    target = tmp_path / "audio" / rows[0]["file"]
    soundfile.write(target, tone(0), 16000, format="WAV", subtype="PCM_16")
    data = bytearray(target.read_bytes())
    at = data.index(b"data") + 4
    data[at : at + 4] = b"\xff\xff\xff\xff"  # what a writer that cannot seek back leaves
    target.write_bytes(bytes(data))
    assert (
        pack(tmp_path / "audio", write_csv(tmp_path / "labels.csv", rows), tmp_path / "o" / "t").samples == 4
    )


def test_every_unreadable_file_is_reported_at_once(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 8)
    for index in (1, 2, 6):  # in different splits
        (tmp_path / "audio" / rows[index]["file"]).write_bytes(b"garbage" * 20)
    error = pack_fails(tmp_path, rows)
    assert sorted(int(p.split("line ")[1].split(":")[0]) for p in error.problems) == [3, 4, 8]


def test_two_names_with_the_same_safe_key(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4)
    soundfile.write(tmp_path / "audio" / "high_01.flac", tone(1), 16000)  # 'high.01.flac' is there
    rows.append({**rows[1], "file": "high_01.flac"})
    error = pack_fails(tmp_path, rows)
    assert error.problems == [
        f"{tmp_path / 'labels.csv'}, line 6: duplicate key 'high_01': file 'high_01.flac' and file "
        f"'high.01.flac' ({tmp_path / 'labels.csv'}, line 3) become the same webdataset key; rename one "
        "of them"
    ]


def test_a_name_without_letters_and_a_json_number_as_file_name(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    for name in ("#!.wav", "7.wav", "8.wav"):
        soundfile.write(audio / name, tone(1), 16000)
    rows = [{"file": 7, "split": "train", "label": "a"}, {"file": 8, "split": "test", "label": "a"}]
    with pytest.raises(PackError) as caught:
        pack(
            audio,
            write_jsonl(tmp_path / "l.jsonl", [*rows, {"file": "#!.wav", "split": "test", "label": "b"}]),
            tmp_path / "o" / "t",
        )
    assert caught.value.problems == [
        f"{tmp_path / 'l.jsonl'}, line 3: file '#!.wav' gives the key '__', with no letter or digit; "
        "rename the file"
    ]
    (audio / "#!.wav").unlink()
    assert pack(audio, write_jsonl(tmp_path / "l.jsonl", rows), tmp_path / "o" / "t").samples == 2


def test_the_same_file_listed_twice(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4)
    rows.append(dict(rows[0]))
    error = pack_fails(tmp_path, rows)
    assert error.problems == [
        f"{tmp_path / 'labels.csv'}, line 6: file {rows[0]['file']!r} is listed twice (also at "
        f"{tmp_path / 'labels.csv'}, line 2)"
    ]


def test_unknown_split_value(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4)
    rows[3]["split"] = "tset"
    error = pack_fails(tmp_path, rows)
    assert error.problems == [
        f"{tmp_path / 'labels.csv'}, line 5: file {rows[3]['file']!r}: unknown split 'tset' in column "
        "'split'; the splits are ['train', 'valid', 'test'] (declare other names with --splits "
        "NAME,NAME[,NAME] in train, valid, test order)"
    ]


def test_declared_split_names_and_a_fold_among_names(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 6, splits=("fit", "dev", "eval"))
    out = tmp_path / "o" / "t"
    result = pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), out, splits=["fit", "dev", "eval"])
    assert list(result.splits) == ["fit", "dev", "eval"]
    rows[0]["split"] = "3"  # a number among names is not a fold
    error = pack_fails(tmp_path, rows, splits=["fit", "dev", "eval"])
    assert "unknown split '3' in column 'split'" in error.problems[0]
    with pytest.raises(PackError, match=r"\['dev\*'\] can not name shard files"):
        pack(tmp_path / "audio", tmp_path / "l.csv", tmp_path / "o2" / "t", splits=["fit", "dev*"])


def test_missing_train_or_test_split_and_single_fold(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 4, splits=("train", "valid"))
    assert pack_fails(tmp_path, rows).problems == [
        f"{tmp_path / 'labels.csv'}: no row is in split 'test'; a task needs a training and a test split "
        "(valid is optional: without it, test is also the validation split)"
    ]
    rows = make_folder(tmp_path, 4, splits=(1,))
    assert "k-fold data needs at least two folds" in pack_fails(tmp_path, rows).problems[0]


def test_table_errors_name_the_line(tmp_path: Path) -> None:
    make_folder(tmp_path, 2)
    (tmp_path / "labels.csv").write_text("file,split,label\nlow.00.flac,train\n", encoding="utf-8")
    with pytest.raises(PackError, match=r"labels.csv, line 2: 2 fields, the header has 3"):
        pack(tmp_path / "audio", tmp_path / "labels.csv", tmp_path / "o" / "t")
    (tmp_path / "labels.jsonl").write_text('{"file": "a.wav"}\n[1, 2]\n{bad\n', encoding="utf-8")
    with pytest.raises(PackError) as caught:
        pack(tmp_path / "audio", tmp_path / "labels.jsonl", tmp_path / "o" / "t")
    assert [p.split(": ", 1)[0] for p in caught.value.problems] == [
        f"{tmp_path / 'labels.jsonl'}, line 2",
        f"{tmp_path / 'labels.jsonl'}, line 3",
    ]
    (tmp_path / "l.csv").write_text("name,split,label\nx,train,a\n", encoding="utf-8")
    with pytest.raises(PackError, match=r"which column names the audio file\? .* --file-column"):
        pack(tmp_path / "audio", tmp_path / "l.csv", tmp_path / "o" / "t")
    with pytest.raises(
        PackError, match=r"no split column 'fold'; the columns are \['name', 'split', 'label'\]"
    ):
        pack(tmp_path / "audio", tmp_path / "l.csv", tmp_path / "o" / "t", split_column="fold")
    (tmp_path / "latin1.csv").write_bytes("file,split,label\ncaf\xe9.wav,train,a\n".encode("latin-1"))
    with pytest.raises(PackError, match=r"latin1.csv: not UTF-8 text .* Save the labels file as UTF-8"):
        pack(tmp_path / "audio", tmp_path / "latin1.csv", tmp_path / "o" / "t")


def test_existing_shards_are_kept_unless_forced_and_stale_ones_go(tmp_path: Path) -> None:
    rows = make_folder(tmp_path)
    labels = write_csv(tmp_path / "l.csv", rows)
    out = tmp_path / "env" / "t"
    first = pack(tmp_path / "audio", labels, out, max_shard_bytes=30_720)
    assert len(first.splits["train"].shards) > 1
    with pytest.raises(PackError, match=r"already holds shards of these splits .* --force"):
        pack(tmp_path / "audio", labels, out)
    second = pack(tmp_path / "audio", labels, out, overwrite=True)
    assert sorted(p.name for p in out.glob("*.tar")) == sorted(p.name for p in second.files)
    assert len(second.files) == 3
    assert len(read_split(out, "train-*.tar")) == 6

    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "audio" / rows[7]["file"]).write_bytes(b"no longer audio" * 9)
    with pytest.raises(PackError, match=r"line 9: .* unreadable audio"):
        pack(tmp_path / "audio", labels, out, overwrite=True, max_shard_bytes=30_720)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the last good pack, marker and all


def test_names_match_whatever_the_unicode_form_and_numbers_stay_file_names(tmp_path: Path) -> None:
    audio = tmp_path / "audio"
    audio.mkdir()
    soundfile.write(audio / "cafe\u0301.wav", tone(0), 16000)  # 'café' decomposed, as macOS may store it
    soundfile.write(audio / "7.wav", tone(1), 16000)
    soundfile.write(audio / "10.wav", tone(2), 16000)
    rows = [
        {"file": "caf\u00e9.wav", "split": "train", "label": "a"},  # typed composed in the CSV
        {"file": "7", "split": "train", "label": "b"},
        {"file": "10", "split": "test", "label": "a"},
    ]
    out = tmp_path / "env" / "t"
    pack(audio, write_csv(tmp_path / "l.csv", rows), out)
    assert sorted(s.key for s in read_split(out, "train-*.tar")) == ["7", "caf\u00e9"]


# --- the task file --------------------------------------------------------------------------------------


def test_skeleton_loads_and_reads_its_shards(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 8, splits=("train", "test"))
    out = tmp_path / "env" / "my-tones"
    result = pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), out)
    task_file = tmp_path / "my_tones_task.py"
    task_file.write_text(task_skeleton(result), encoding="utf-8")
    config = load_task_config(task_file, None, env_root=tmp_path / "env")
    assert (config.name, config.task_dir) == ("my-tones", out)
    assert (config.train_split, config.valid_split, config.test_split) == ("train", "test", "test")
    labels = {config.label_processor(s.meta) for split in config.data_splits() for s in _read(config, split)}
    assert labels == {0, 1} and config.output_dim == 2 and config.class_names == ["high", "low"]

    regression = tmp_path / "loud_task.py"
    regression.write_text(task_skeleton(result, label_column="loud"), encoding="utf-8")
    config = load_task_config(regression, None, env_root=tmp_path / "env")
    assert (config.metric, config.criterion, config.output_dim) == ("MSE", "MSELoss", 1)
    assert {config.label_processor(s.meta) for s in _read(config, "train")} == {
        float(r["loud"]) for r in rows if r["split"] == "train"
    }


def test_stage_0_trusts_the_marker_pack_writes(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 6, splits=(1, 2, 3))
    result = pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), tmp_path / "env" / "f")
    (tmp_path / "f_task.py").write_text(task_skeleton(result), encoding="utf-8")
    config = load_task_config(tmp_path / "f_task.py", None, env_root=tmp_path / "env")
    marker = (config.task_dir / READY_MARKER).read_bytes()
    assert is_acquired(config)
    acquire(config)  # ready: nothing re-scanned, the marker left as pack wrote it
    assert (config.task_dir / READY_MARKER).read_bytes() == marker


label_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"), min_size=1, max_size=12
).filter(lambda t: t == t.strip() and not _numeric(t))


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.lists(label_text, min_size=2, max_size=2), note=st.text(max_size=20))
def test_any_csv_text_reaches_the_json_as_it_was(
    tmp_path_factory: pytest.TempPathFactory, labels: list[str], note: str
) -> None:
    """Commas, quotes, newlines, non-ASCII: the csv module's quoting in, the same text out."""
    root = tmp_path_factory.mktemp("text")
    rows = make_folder(root, 2, splits=("train", "test"))
    for row, label in zip(rows, labels, strict=True):
        row.update(label=label, loud="x", n=note + "\n" + label)  # n: text with a line break inside
    out = root / "env" / "t"
    pack(root / "audio", write_csv(root / "l.csv", rows), out)
    got = {s.key: s.meta for split in ("train", "test") for s in read_split(out, f"{split}-*.tar")}
    assert got == {safe_key(r["file"]): {"label": r["label"], "loud": "x", "n": r["n"].strip()} for r in rows}


def test_skeleton_for_folds(tmp_path: Path) -> None:
    rows = make_folder(tmp_path, 6, splits=(1, 2, 3))
    result = pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), tmp_path / "env" / "f")
    task_file = tmp_path / "f_task.py"
    task_file.write_text(task_skeleton(result, label_column="n"), encoding="utf-8")
    config = load_task_config(task_file, None, env_root=tmp_path / "env")
    assert config.k_fold_splits == [1, 2, 3] and config.output_dim == 6
    assert sorted(config.label_processor(s.meta) for f in (1, 2, 3) for s in _read(config, f)) == list(
        range(6)
    )


def test_printed_task_files_are_lint_and_format_clean(tmp_path: Path) -> None:
    """A user copies the file into their project: it should pass a formatter and a linter as it is."""
    rows = make_folder(tmp_path, 6, splits=(1, 2, 3))
    folds = pack(tmp_path / "audio", write_csv(tmp_path / "l.csv", rows), tmp_path / "env" / "f")
    rows = make_folder(tmp_path, 6)
    named = pack(tmp_path / "audio", write_csv(tmp_path / "n.csv", rows), tmp_path / "env" / "n")
    files = []
    for index, (result, column) in enumerate([(folds, "n"), (named, "label"), (named, "loud")]):
        files.append(tmp_path / f"t{index}_task.py")
        files[-1].write_text(task_skeleton(result, label_column=column), encoding="utf-8")
    for command in (["format", "--check"], ["check"]):  # --isolated: ruff's defaults, not this repo's
        done = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--isolated", *map(str, files)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stdout + done.stderr


def _read(config, split) -> list:
    return read_split(config.task_dir, config.shard_pattern(split))


@pytest.mark.slow
def test_cli_pack_then_run_stages_1_and_2_with_the_mel_encoder(tmp_path: Path, capsys) -> None:
    """The README's 'Add a task' path end to end: folder + CSV -> xares pack -> task file -> xares.run."""
    rows = make_folder(tmp_path, 24)
    labels = write_csv(tmp_path / "labels.csv", rows)
    task_file = tmp_path / "tones_task.py"
    argv = [
        "pack",
        str(tmp_path / "audio"),
        "--labels",
        str(labels),
        "--out",
        str(tmp_path / "env" / "tones"),
    ]
    assert cli.main([*argv, "--write-task", str(task_file)]) == 0
    printed = capsys.readouterr().err
    assert "def tones_config(encoder) -> TaskConfig:" in task_file.read_text()
    assert f"run it: python -m xares.run ENCODER.py {task_file} --env-root {tmp_path / 'env'}" in printed

    command = [sys.executable, "-m", "xares.run", str(MEL_ENCODER), str(task_file), "--from-stage", "1"]
    command += ["--env-root", str(tmp_path / "env"), "--results", str(tmp_path / "r.json"), "-q"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    [task] = load_results(tmp_path / "r.json")["tasks"]
    assert task["name"] == "tones" and task["status"] == "ok", task
    # a 300 Hz tone against a 2500 Hz one: the mel features separate them (the MLP sees 12 clips only)
    assert task["knn_score"] > 0.9 and task["mlp_score"] > 0.5


def test_cli_pack_reports_bad_input(tmp_path: Path, capsys) -> None:
    rows = make_folder(tmp_path, 4)
    rows[1]["split"] = "training"
    labels = write_csv(tmp_path / "labels.csv", rows)
    code = cli.main(["pack", str(tmp_path / "audio"), "--labels", str(labels), "--out", str(tmp_path / "o")])
    assert code == 1
    out = capsys.readouterr().err
    assert "unknown split 'training'" in out and "line 3" in out


def test_cli_stdout_is_only_the_task_file(tmp_path: Path, capsys) -> None:
    rows = make_folder(tmp_path, 6, splits=(1, 2, 3))
    labels = write_jsonl(tmp_path / "labels.jsonl", rows)
    out = tmp_path / "env" / "folds"
    argv = [
        "pack",
        str(tmp_path / "audio"),
        "--labels",
        str(labels),
        "--out",
        str(out),
        "--max-shard-size",
        "20K",
    ]
    assert cli.main([*argv, "--label-column", "label"]) == 0
    captured = capsys.readouterr()
    (tmp_path / "folds_task.py").write_text(captured.out)  # what `xares pack ... > folds_task.py` saves
    config = load_task_config(tmp_path / "folds_task.py", None, env_root=tmp_path / "env")
    assert config.k_fold_splits == [1, 2, 3] and config.class_names == ["high", "low"]
    assert all(p.stat().st_size <= 20 * 1024 for p in out.glob("*.tar"))
    assert (
        "✓ 1: 2 clips in" in captured.err
        and "run it: python -m xares.run ENCODER.py folds_task.py" in captured.err
    )


@pytest.mark.parametrize(
    ("text", "size"), [("300000", 300_000), ("20K", 20_480), ("1.5M", 1_572_864), ("2GiB", 2 << 30)]
)
def test_cli_shard_sizes(text: str, size: int) -> None:
    args = cli.build_parser().parse_args(
        ["pack", "a", "--labels", "l.csv", "--out", "o", "--max-shard-size", text]
    )
    assert args.max_shard_size == size


def test_cli_refuses_a_size_that_is_not_one(capsys) -> None:
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(
            ["pack", "a", "--labels", "l.csv", "--out", "o", "--max-shard-size", "big"]
        )
    assert "'big' is not a size (bytes, or e.g. 512M, 2G)" in capsys.readouterr().err


def test_cli_ignore_unlisted(tmp_path: Path, capsys) -> None:
    rows = make_folder(tmp_path, 6)
    labels = write_csv(tmp_path / "labels.csv", rows[:4])
    argv = ["pack", str(tmp_path / "audio"), "--labels", str(labels), "--out", str(tmp_path / "env" / "p")]
    assert cli.main(argv) == 1
    assert "audio file without a row" in capsys.readouterr().err
    assert cli.main([*argv, "--ignore-unlisted", "--write-task", str(tmp_path / "p_task.py")]) == 0
    assert "✓ train: 2 clips" in capsys.readouterr().err
